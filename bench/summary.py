"""One short table of every benchmark's headline numbers, from bench/results/*.json.

    uv run python -m bench.summary [--results bench/results]

Printed at the end of `make bench`; also written as bench/results/summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def _load(folder: Path, name: str) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def routing_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("routing-*.json")):
        doc = json.loads(path.read_text())
        policies = doc["policies"]
        ours, static, oracle = (
            policies["adaptive"],
            policies["static-0.85"],
            policies["oracle-static"],
        )
        rows.append(
            {
                "scenario": doc["scenario"],
                "drafts": doc["drafts"],
                "adaptive_review_rate": ours["review_rate"],
                "adaptive_within_target": ours["all_within_target"],
                "static_0.85_review_rate": static["review_rate"],
                "static_0.85_within_target": static["all_within_target"],
                "oracle_static_review_rate": oracle["review_rate"],
                "saved_vs_static_0.85": doc.get("adaptive_reviews_saved_vs_static_0.85"),
            }
        )
    return rows


def learning_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("learning-*.json")):
        doc = json.loads(path.read_text())
        trained = [p for p in doc["checkpoints"] if p["trained"]]
        if trained:
            last = trained[-1]
            rows.append(
                {
                    "scenario": doc["scenario"],
                    "first_published_at_reviews": doc["first_published_at_reviews"],
                    "reviews": last["reviews"],
                    "prior": last["prior"],
                    "retrained": last["retrained"],
                }
            )
    return rows


def headline(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"routing": routing_rows(folder), "learning": learning_rows(folder)}
    if pipeline := _load(folder, "pipeline"):
        sat = pipeline["saturation"]
        out["pipeline"] = {
            "fixed_rate": [
                {k: run[k] for k in ("offered_rate", "p50_ms", "p95_ms", "p99_ms")}
                for run in pipeline["fixed_rate"]
            ],
            "saturation_drafts_per_second": sat["drafts_per_second"],
            "broker_produce_ceiling_per_second": pipeline["broker_ceiling"][
                "produce_records_per_second"
            ],
            "ratio_to_ceiling": pipeline["ratio_to_broker_produce_ceiling"],
        }
    if scorer := _load(folder, "scorer"):
        out["scorer_drafts_per_second"] = scorer["through_broker"]["drafts_per_second"]
    if router := _load(folder, "router"):
        out["router_drafts_per_second"] = router["throughput"]["drafts_per_second"]
    if review := _load(folder, "review_api"):
        claim = review["claim_and_decide"]
        out["review_api"] = {k: claim[k] for k in ("round_trips_per_second", "p50_ms", "p99_ms")}
    if certificate := _load(folder, "certificate_validity"):
        out["certificate"] = certificate_rows(certificate)
    return out


def certificate_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Share of runs that ever certified a rate at or above target, per stream (vs delta)."""
    return [
        {
            "stream": name,
            "share": case["share_ever_certified"],
            "error_bar_95": case["error_bar_95"],
            "delta": doc["delta"],
        }
        for name, case in doc["validity"].items()
    ]


def show(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="routing quality (review rate; * = some type over its escape target)")
    for column in ("scenario", "drafts", "adaptive", "static-0.85", "oracle-static",
                   "saved vs static-0.85"):  # fmt: skip
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in summary["routing"]:
        mark = {True: "", False: " *"}
        table.add_row(
            row["scenario"],
            str(row["drafts"]),
            f"{row['adaptive_review_rate']:.1%}{mark[row['adaptive_within_target']]}",
            f"{row['static_0.85_review_rate']:.1%}{mark[row['static_0.85_within_target']]}",
            f"{row['oracle_static_review_rate']:.1%}",
            "-" if row["saved_vs_static_0.85"] is None else f"{row['saved_vs_static_0.85']:.0%}",
        )
    console.print(table)
    learned = Table(title="scorer learning from simulated reviews (held-out newest 20 %)")
    for column in ("scenario", "first published at", "reviews", "AUC prior -> retrained",
                   "ECE prior -> retrained"):  # fmt: skip
        learned.add_column(column, justify="left" if column == "scenario" else "right")
    for row in summary["learning"]:
        first = row["first_published_at_reviews"]
        learned.add_row(
            row["scenario"],
            "-" if first is None else f"{first} reviews",
            str(row["reviews"]),
            f"{row['prior']['auc'] or 0:.3f} -> {row['retrained']['auc'] or 0:.3f}",
            f"{row['prior']['ece']:.3f} -> {row['retrained']['ece']:.3f}",
        )
    console.print(learned)
    numbers = Table(title="speed")
    numbers.add_column("measure")
    numbers.add_column("value", justify="right")
    if p := summary.get("pipeline"):
        for run in p["fixed_rate"]:
            numbers.add_row(
                f"pipeline latency at {run['offered_rate']:.0f} drafts/s (p50 / p95 / p99)",
                f"{run['p50_ms']:.0f} / {run['p95_ms']:.0f} / {run['p99_ms']:.0f} ms",
            )
        numbers.add_row("pipeline saturation", f"{p['saturation_drafts_per_second']} drafts/s")
        numbers.add_row(
            "broker produce ceiling (ratio)",
            f"{p['broker_produce_ceiling_per_second']:.0f} rec/s ({p['ratio_to_ceiling']:.1%})",
        )
    alone = {
        "scorer_drafts_per_second": "scorer alone, through the broker",
        "router_drafts_per_second": "router alone, through the broker",
    }
    for key, label in alone.items():
        if key in summary:
            numbers.add_row(label, f"{summary[key]} drafts/s")
    if r := summary.get("review_api"):
        numbers.add_row(
            "review-api claim+decide (p50 / p99)",
            f"{r['round_trips_per_second']}/s ({r['p50_ms']:.0f} / {r['p99_ms']:.0f} ms)",
        )
    console.print(numbers)
    if rows := summary.get("certificate"):
        validity = Table(title="escape certificate: runs that ever certified a rate >= target")
        validity.add_column("stream")
        validity.add_column("share", justify="right")
        for row in rows:
            validity.add_row(
                row["stream"], f"{row['share']:.2%} ± {row['error_bar_95']:.2%} (δ {row['delta']})"
            )
        console.print(validity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    summary = headline(args.results)
    show(summary, Console())
    (args.results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
