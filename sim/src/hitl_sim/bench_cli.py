"""`hitl-bench`: how would the router have done, compared with simple policies?

    hitl-bench routing --scenario bench/scenarios/steady.yaml --json out.json [--plot out.png]
    hitl-bench replay  --input history.jsonl --policy policy.yaml --json out.json [--plot out.png]
    hitl-bench learning --scenario bench/scenarios/steady.yaml --json out.json
    hitl-bench scorer  --json out.json [--plot out.png] [--sets insults,bbc-business,...]
    hitl-bench fit-prior --out services/scorer/src/scorer/prior.json

`routing` simulates a scenario's drafts, scores them with the scorer's own code and replays them
through the router's own policy code; `replay` does the same for a team's own history (one JSON
object per line: draft_id, content_type, confidence, defect). Both print a table, write the same
JSON shape and optionally plot each type's threshold and escape rate over the stream. `scorer`
scores real, human-labelled text from packages on the registries (`hitl_sim.corpora`) and
reports AUC, calibration and the share of clean items a default threshold would auto-approve;
`fit-prior` fits the prior the scorer ships from training data only (`hitl_sim.fit_prior`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hitl_runtime.policy import PolicyError, load_policy
from hitl_sim import report
from hitl_sim.compare import compare
from hitl_sim.corpora import CorpusError
from hitl_sim.fit_prior import PriorError
from hitl_sim.offline import HistoryError, history_records, open_history, scored_records
from hitl_sim.scenario import ScenarioError, load_scenario
from router.replay import Record

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY = ROOT / "policy" / "default.yaml"


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _counted(records: Iterable[Record], progress: Progress, task: Any) -> Iterator[Record]:
    for n, record in enumerate(records, start=1):
        if n % 1000 == 0:
            progress.update(task, completed=n)
        yield record


def routing(args: argparse.Namespace, console: Console) -> int:
    policy = load_policy(args.policy)
    scenario = load_scenario(args.scenario, drafts=args.drafts)
    scenario.check_against(policy)
    with _progress(console) as progress:
        task = progress.add_task(f"scoring and routing {scenario.name}", total=scenario.drafts)
        result = compare(
            _counted(scored_records(scenario, policy), progress, task), policy, delay=args.delay
        )
    doc = report.document(
        result, scenario=scenario.name, seed=scenario.seed, decision_delay_items=args.delay
    )
    return _finish(doc, result, policy_targets(policy), args, console, title=scenario.name)


def replay(args: argparse.Namespace, console: Console) -> int:
    policy = load_policy(args.policy)
    source = open_history(args.input)
    size = args.input.stat().st_size
    with source, _progress(console) as progress:
        task = progress.add_task(f"replaying {args.input.name}", total=size)

        def advancing() -> Iterator[Record]:
            for n, record in enumerate(history_records(source, str(args.input)), start=1):
                if n % 5000 == 0:
                    progress.update(task, completed=source.tell())
                yield record

        result = compare(advancing(), policy, delay=args.delay)
    doc = report.document(result, input=str(args.input), decision_delay_items=args.delay)
    return _finish(doc, result, policy_targets(policy), args, console, title=args.input.name)


def learning(args: argparse.Namespace, console: Console) -> int:
    from hitl_sim.learning import learning_curve

    policy = load_policy(args.policy)
    scenario = load_scenario(args.scenario, drafts=args.drafts)
    scenario.check_against(policy)
    with console.status(f"simulating reviews and retraining on {scenario.name}"):
        doc = learning_curve(scenario, policy)
    table = Table(title=f"learning: {scenario.name} ({doc['reviews']} reviews)")
    for column in ("reviews", "published", "AUC prior -> retrained", "ECE prior -> retrained"):
        table.add_column(column, justify="right")
    for p in doc["checkpoints"]:
        if not p["trained"]:
            table.add_row(str(p["reviews"]), "too little data", "-", "-")
            continue
        before, after = p["prior"], p["retrained"]
        table.add_row(
            str(p["reviews"]),
            "yes" if p["published"] else "no",
            f"{before['auc'] or 0:.3f} -> {after['auc'] or 0:.3f}",
            f"{before['ece']:.3f} -> {after['ece']:.3f}",
        )
    console.print(table)
    report.write_json(doc, args.json)
    console.print(f"wrote {args.json}")
    return 0


def scorer(args: argparse.Namespace, console: Console) -> int:
    from hitl_schemas import ModelVersion
    from hitl_sim import corpora, scorer_eval
    from scorer.model import load_model, prior
    from scorer.scoring import Scorer
    from scorer.signals.toxicity import ToxicityClassifier

    policy = load_policy(args.policy)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(corpora.SETS))
    if unknown:
        raise corpora.CorpusError(
            f"unknown set {', '.join(unknown)}; choose from {', '.join(corpora.SETS)}"
        )
    version = ModelVersion.model_validate_json(args.model.read_text()) if args.model else prior()
    model = load_model(version)
    engine = Scorer(policy=policy, toxicity=ToxicityClassifier())
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        with console.status(f"fetching and scoring {name}"):
            items = corpora.SETS[name](None, args.data)
            results[name] = scorer_eval.evaluate(items, policy, engine, model)
    table = Table(title=f"scorer on real text (model {model.version}, no producer confidence)")
    for column in ("set", "items", "defects", "AUC", "best signal AUC", "ECE", "clean passed",
                   "defects caught", "drafts/s"):  # fmt: skip
        table.add_column(column, justify="right")
    for name, r in results.items():
        best = max(((v, k) for k, v in r["signal_auc"].items() if v is not None), default=None)
        table.add_row(
            name, str(r["items"]), str(r["defects"]),
            "-" if r["auc"] is None else f"{r['auc']:.3f}",
            "-" if best is None else f"{best[0]:.3f} ({best[1]})",
            f"{r['ece']:.3f}",
            "-" if r["clean_passed_share"] is None else f"{r['clean_passed_share']:.1%}",
            f"{r['defects_caught']}/{r['defects']}", f"{r['drafts_per_second']}",
        )  # fmt: skip
    console.print(table)
    report.write_json({"model": model.version, "sets": results}, args.json)
    console.print(f"wrote {args.json}")
    if args.plot:
        scorer_eval.plot(results, args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def fit_prior(args: argparse.Namespace, console: Console) -> int:
    from hitl_sim.fit_prior import build, write

    policy = load_policy(args.policy)
    with console.status("scoring the training sets and fitting the prior"):
        version = build(policy, sim_drafts=args.sim_drafts, log=console.print)
    write(version, args.out)
    console.print(f"wrote {args.out} ({version.version}, sha256 {version.sha256[:12]})")
    return 0


def policy_targets(policy: Any) -> dict[str, float | None]:
    return {name: ct.target_escape_rate for name, ct in policy.content_types.items()}


def _finish(
    doc: dict[str, Any],
    result: Any,
    targets: dict[str, float | None],
    args: argparse.Namespace,
    console: Console,
    *,
    title: str,
) -> int:
    report.print_table(doc, console)
    report.write_json(doc, args.json)
    console.print(f"wrote {args.json}")
    if args.plot:
        report.plot(result, targets, args.plot, title)
        console.print(f"wrote {args.plot}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hitl-bench", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("routing", "simulate a scenario and compare routing policies on it"),
        ("replay", "backtest routing policies on your own history (JSONL)"),
        ("learning", "retrain the scorer on a scenario's simulated reviews, at growing counts"),
        ("scorer", "score real, human-labelled text and report AUC, calibration, passes"),
        ("fit-prior", "fit the scorer's shipped prior from packaged corpora and the simulator"),
    ):
        sub = commands.add_parser(name, help=help_text)
        if name == "fit-prior":
            sub.add_argument("--out", type=Path, required=True, help="where to write the model")
            sub.add_argument("--sim-drafts", type=int, default=6000, help="simulated drafts")
            sub.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="policy YAML")
            continue
        if name == "scorer":
            sub.add_argument("--sets", default="insults,bbc-business,customer-emails",
                             help="comma-separated sets (hitl_sim.corpora.SETS)")  # fmt: skip
            sub.add_argument("--data", type=Path, default=ROOT / "bench" / "data",
                             help="directory of our own labelled drafts")  # fmt: skip
            sub.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="policy YAML")
            sub.add_argument("--model", type=Path, help="a ModelVersion JSON (default: prior)")
            sub.add_argument("--json", type=Path, required=True, help="where to write results")
            sub.add_argument("--plot", type=Path, help="where to write the reliability PNG")
            continue
        if name in ("routing", "learning"):
            sub.add_argument("--scenario", type=Path, required=True, help="scenario YAML file")
            sub.add_argument("--drafts", type=int, help="override the scenario's draft count")
        else:
            sub.add_argument("--input", type=Path, required=True, help="history JSONL file")
        sub.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="policy YAML file")
        sub.add_argument("--json", type=Path, required=True, help="where to write the results")
        sub.add_argument("--plot", type=Path, help="where to write the PNG plot")
        sub.add_argument(
            "--delay",
            type=int,
            default=200,
            help="drafts that pass before a reviewed draft's verdict reaches the policy",
        )
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(stderr=False)
    try:
        command = {"routing": routing, "replay": replay, "learning": learning,
                   "scorer": scorer, "fit-prior": fit_prior}[args.command]  # fmt: skip
        return command(args, console)
    except (ScenarioError, PolicyError, HistoryError, CorpusError, PriorError) as exc:
        Console(stderr=True).print(f"hitl-bench: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
