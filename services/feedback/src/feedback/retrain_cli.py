"""`python -m feedback retrain`: one retraining run by hand (the service runs them on its own
trigger): fit on the newest examples in `retraining-feedback`, compare with the serving model
(the newest on `scorer-models`, else the prior), print both evaluations, publish only when
better and asked to."""

from __future__ import annotations

import argparse
import sys

from feedback.config import load
from feedback.evaluation import Evaluation
from feedback.retraining import run_once, targets_of
from feedback.safety import safety_bounds
from feedback.training import Retraining
from hitl_runtime.kafka import EventPublisher, make_producer
from hitl_runtime.policy import load_policy
from hitl_runtime.signing import signer_for


def main(argv: list[str]) -> int:
    settings = load()
    parser = argparse.ArgumentParser(prog="python -m feedback retrain")
    parser.add_argument("--publish", action="store_true", help="publish to scorer-models if better")
    parser.add_argument("--min-examples", type=int, default=settings.retrain_min_examples)
    parser.add_argument("--window", type=int, default=settings.retrain_window_examples)
    args = parser.parse_args(argv)

    publisher = (
        EventPublisher(make_producer(settings), settings, signer=signer_for(settings))
        if args.publish
        else None
    )
    policy = load_policy(settings.policy_file)
    result = run_once(
        settings,
        targets_of(policy),
        bounds=safety_bounds(policy),
        window=args.window,
        min_examples=args.min_examples,
        publisher=publisher,
        progress=True,
    )
    if result.retraining is None:
        sys.stderr.write(f"not enough to learn from ({result.examples} examples)\n")
        return 0
    sys.stderr.write(table(result.retraining, serving=result.serving.version))
    if result.outcome == "published":
        sys.stderr.write(f"published {result.retraining.candidate.version} to scorer-models\n")
    return 0


def table(result: Retraining, *, serving: str) -> str:
    """Both models' held-out figures side by side, then the verdict and its reasons."""
    rows = [
        (label, theirs, mine)
        for (label, theirs), (_, mine) in zip(
            _cells(result.serving_eval), _cells(result.candidate_eval), strict=True
        )
    ]
    width = max(len(label) for label, _, _ in rows)
    lines = [f"{'held-out slice':<{width}}  {serving:>28}  {result.candidate.version:>28}"]
    lines += [f"{label:<{width}}  {theirs:>28}  {mine:>28}" for label, theirs, mine in rows]
    lines.append(f"better: {result.better}")
    lines += [f"  not better: {reason}" for reason in result.refusals]
    return "\n".join(lines) + "\n"


def _cells(evaluation: Evaluation) -> list[tuple[str, str]]:
    cells = [
        ("examples", str(evaluation.examples)),
        ("log-loss", f"{evaluation.log_loss:.4f}"),
        ("AUC", "-" if evaluation.auc is None else f"{evaluation.auc:.4f}"),
        ("ECE", f"{evaluation.ece:.4f}"),
    ]
    # Both models are judged on the same slice with the same targets: the same types, in order.
    for name, t in sorted(evaluation.by_type.items()):
        label = f"review rate at target: {name} (n={t.examples}, target {t.target_escape_rate:g})"
        cells.append((label, f"{t.review_rate:.3f}"))
    return cells
