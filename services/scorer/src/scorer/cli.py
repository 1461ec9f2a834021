"""Offline scoring, no Kafka: Draft JSON lines in, ScoredDraft JSON lines out.

    python -m scorer score --input drafts.jsonl --output scored.jsonl [--model model.json]

The same scoring code as the service. A line that is not a valid Draft is reported on stderr
with its line number and reason, and skipped; the exit code is 1 when any line was skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from hitl_runtime.policy import load_policy
from hitl_runtime.serde import EventValidationError, decode
from hitl_schemas import Draft, Limits, ModelVersion, ScoredDraft
from scorer.config import ScorerSettings
from scorer.model import Combiner, load_model, prior
from scorer.plugins import load_plugins
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier

BATCH = 256


def _batches(
    lines: IO[bytes], limits: Limits, on_error: Callable[[int, EventValidationError], None]
) -> Iterator[list[Draft]]:
    batch: list[Draft] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            batch.append(decode(Draft, line.rstrip(b"\n"), limits))
        except EventValidationError as exc:
            on_error(number, exc)
            continue
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def score_file(
    source: IO[bytes],
    sink: IO[str],
    *,
    scorer: Scorer,
    model: Combiner,
    settings: ScorerSettings,
    errors: IO[str],
) -> tuple[int, int]:
    """Returns (scored, skipped)."""
    scored = 0
    skipped: list[int] = []

    def report(number: int, exc: EventValidationError) -> None:
        skipped.append(number)
        errors.write(f"line {number}: {exc}\n")

    for batch in _batches(source, settings.limits, report):
        scores, _ = scorer.score_batch(batch, model)
        for draft, score in zip(batch, scores, strict=True):
            sink.write(ScoredDraft(draft=draft, score=score).model_dump_json() + "\n")
        scored += len(batch)
    return scored, len(skipped)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scorer score", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--input", required=True, help="Draft JSON lines ('-' for stdin)")
    parser.add_argument("--output", required=True, help="ScoredDraft JSON lines ('-' for stdout)")
    parser.add_argument("--model", help="a ModelVersion JSON file (default: the prior)")
    parser.add_argument("--policy", help="policy file (default: HITL_POLICY_FILE)")
    args = parser.parse_args(argv)

    from scorer.config import load

    settings = load()
    policy = load_policy(args.policy or settings.policy_file)
    version = prior()
    if args.model:
        version = ModelVersion.model_validate_json(Path(args.model).read_bytes())
    model = load_model(version)
    scorer = Scorer(
        policy=policy, toxicity=ToxicityClassifier(), plugins=load_plugins(policy.signals)
    )

    source = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")  # noqa: SIM115
    sink = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        scored, skipped = score_file(
            source, sink, scorer=scorer, model=model, settings=settings, errors=sys.stderr
        )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if sink is not sys.stdout:
            sink.close()
    sys.stderr.write(f"scored {scored} drafts, skipped {skipped} invalid lines\n")
    return 1 if skipped else 0
