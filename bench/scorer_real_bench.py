"""Scorer on realistic customer e-mails (bench/data/): do clean ones pass, are defects caught?

    uv run python -m bench.scorer_real_bench [--data bench/data/customer_emails.jsonl]
        [--json bench/results/scorer_real.json]

Offline, no broker: the service's own Scorer, prior model and toxicity classifier, the default
policy, and the router's own hard-rule check. A clean e-mail passes when its confidence is at or
above its type's default threshold and it trips no hard rule; a defect is caught when it is
below the threshold or trips a hard rule. Labels come from the sibling `*.labels.json`
(draft id -> "clean" or the defect's kind). AUC is of (1 - confidence), defect against clean.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import write_result
from feedback.evaluation import auc
from hitl_runtime.policy import Policy, load_policy
from hitl_schemas import Draft, Score
from router.core import hard_rule
from scorer.model import load_model, prior
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier

ROOT = Path(__file__).resolve().parents[1]
CLEAN = "clean"


def read_drafts(path: Path) -> tuple[list[Draft], dict[str, str]]:
    drafts = [
        Draft.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()
    ]
    labels_path = path.with_name(path.name.removesuffix(".jsonl") + ".labels.json")
    labels: dict[str, str] = json.loads(labels_path.read_text())
    missing = [d.draft_id for d in drafts if d.draft_id not in labels]
    if missing:
        raise SystemExit(f"{labels_path}: no label for {', '.join(missing)}")
    return drafts, labels


def outcome(draft: Draft, score: Score, policy: Policy) -> dict[str, Any]:
    """One e-mail's verdict under the type's default threshold and hard rules."""
    ct = policy.for_type(draft.content_type)
    if ct is None:
        raise SystemExit(f"{draft.draft_id}: content type {draft.content_type} not in the policy")
    tripped = hard_rule(score.signals, ct)
    signals = {s.name: round(s.value, 3) for s in score.signals if s.value or s.failed}
    return {
        "draft_id": draft.draft_id,
        "confidence": round(score.confidence, 3),
        "threshold": ct.default_threshold,
        "below_threshold": score.confidence < ct.default_threshold,
        "hard_rule": tripped[0] if tripped else None,
        "signals": signals,
    }


def summarise(rows: Sequence[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    clean = [r for r in rows if labels[r["draft_id"]] == CLEAN]
    defects = [r for r in rows if labels[r["draft_id"]] != CLEAN]
    passed = [r for r in clean if not r["below_threshold"] and r["hard_rule"] is None]
    below = [r for r in defects if r["below_threshold"]]
    ruled = [r for r in defects if r["hard_rule"] is not None]
    caught = [r for r in defects if r["below_threshold"] or r["hard_rule"] is not None]
    failures = [r for r in clean if r not in passed] + [r for r in defects if r not in caught]
    risk = [1.0 - r["confidence"] for r in rows]
    is_defect = [int(labels[r["draft_id"]] != CLEAN) for r in rows]
    area = auc(risk, is_defect)
    return {
        "clean": len(clean),
        "clean_passed": len(passed),
        "clean_pass_share": round(len(passed) / len(clean), 3) if clean else None,
        "defects": len(defects),
        "defects_below_threshold": len(below),
        "defects_tripping_a_hard_rule": len(ruled),
        "defects_caught": len(caught),
        "auc_defect_vs_clean": None if area is None else round(area, 3),
        "failures": [r | {"label": labels[r["draft_id"]]} for r in failures],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT / "bench" / "data" / "customer_emails.jsonl"))
    parser.add_argument("--policy", default=str(ROOT / "policy" / "default.yaml"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "scorer_real.json"))
    args = parser.parse_args(argv)
    drafts, labels = read_drafts(Path(args.data))
    policy = load_policy(Path(args.policy))
    scorer = Scorer(policy=policy, toxicity=ToxicityClassifier())
    model = load_model(prior())
    scores, _ = scorer.score_batch(drafts, model)
    rows = [outcome(d, s, policy) for d, s in zip(drafts, scores, strict=True)]
    write_result(
        "scorer_real",
        {"data": Path(args.data).name, "model": model.version} | summarise(rows, labels),
        args.json,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
