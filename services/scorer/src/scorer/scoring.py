"""Scoring: run every signal on a batch of drafts, guard each, and combine into a Score.

A signal that raises on a strange text does not sink the batch: it is reported as failed on that
draft (with the exception type), the draft is scored without it, and the failure is counted.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hitl_runtime.policy import CommitmentKind, FormPolicy, Policy
from hitl_schemas import Draft, Score, Signal, Span
from scorer.features import features, ngram_vector
from scorer.model import Combiner
from scorer.signals.base import PerDraft, SignalResult
from scorer.signals.commitments import commitments
from scorer.signals.form import form
from scorer.signals.grounding import grounding
from scorer.signals.pii import pii
from scorer.signals.pii import prepare as prepare_pii
from scorer.signals.producer import producer_confidence
from scorer.signals.toxicity import ToxicityClassifier, tone

ALL_COMMITMENTS: tuple[CommitmentKind, ...] = (
    "refund",
    "guarantee",
    "legal",
    "medical",
    "financial",
    "deadline",
)
DEFAULT_FORM = FormPolicy()

# Flagged spans a signal reports on one draft; the rest are counted (Signal.spans_omitted). A
# reviewer reads a few dozen highlights, and 17,000 of them made a 2 MB event (issue 15).
MAX_SPANS_PER_SIGNAL = 50


@dataclass
class BatchStats:
    """Side facts of one batch, for metrics: seconds per signal and failures per signal."""

    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    failures: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Scorer:
    policy: Policy
    toxicity: ToxicityClassifier
    max_spans_per_signal: int = MAX_SPANS_PER_SIGNAL
    plugins: tuple[tuple[str, PerDraft], ...] = ()  # the policy's own signals (scorer.plugins)

    def __post_init__(self) -> None:
        prepare_pii()  # at start, not on the first draft from each country

    def _per_draft_signals(self, draft: Draft) -> list[tuple[str, PerDraft]]:
        ct = self.policy.for_type(draft.content_type)
        risky = ct.risky_commitments if ct is not None else ALL_COMMITMENTS
        form_policy = ct.form if ct is not None else DEFAULT_FORM
        return [
            ("producer_confidence", producer_confidence),
            ("pii", pii),
            ("tone", tone),
            ("commitments", lambda d: commitments(d, risky)),
            ("grounding", grounding),
            ("form", lambda d: form(d, form_policy)),
            *self.plugins,
        ]

    def score_batch(
        self, drafts: Sequence[Draft], model: Combiner, *, now: datetime | None = None
    ) -> tuple[list[Score], BatchStats]:
        stats = BatchStats()
        results: list[dict[str, SignalResult | None]] = [{} for _ in drafts]
        errors: list[dict[str, str]] = [{} for _ in drafts]

        started = time.perf_counter()
        try:
            batch_toxicity: list[SignalResult | None] = list(self.toxicity.score_batch(drafts))
        except Exception:  # noqa: BLE001 - one odd draft must not sink the batch: retry singly
            batch_toxicity = [self._toxicity_alone(d, errors[i]) for i, d in enumerate(drafts)]
        stats.seconds["toxicity"] += time.perf_counter() - started
        for i, result in enumerate(batch_toxicity):
            results[i]["toxicity"] = result

        for i, draft in enumerate(drafts):
            for name, signal in self._per_draft_signals(draft):
                started = time.perf_counter()
                try:
                    results[i][name] = signal(draft)
                except Exception as exc:  # noqa: BLE001 - reported on the draft, counted, not fatal
                    results[i][name] = None
                    errors[i][name] = f"{type(exc).__name__}: {str(exc)[:200]}"
                stats.seconds[name] += time.perf_counter() - started

        scored_at = now or datetime.now(UTC)
        scores = []
        for i, draft in enumerate(drafts):
            for name in errors[i]:
                stats.failures[name] += 1
            # The prior weighs no text n-grams: skip hashing the text for it.
            ngrams = ngram_vector(draft.text) if model.reads_text else None
            row = features(draft, results[i])
            confidence = model.predict(row, draft.content_type, ngrams)
            score = Score(
                confidence=confidence,
                signals=_signals(
                    results[i],
                    errors[i],
                    by_signal(model.contributions(row)),
                    keep=self.max_spans_per_signal,
                ),
                model_name=model.name,
                model_version=model.version,
                scored_at=scored_at,
            )
            scores.append(score)
        return scores, stats

    def _toxicity_alone(self, draft: Draft, errors: dict[str, str]) -> SignalResult | None:
        try:
            return self.toxicity.score_batch([draft])[0]
        except Exception as exc:  # noqa: BLE001 - reported on the draft
            errors["toxicity"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            return None

    def score(self, draft: Draft, model: Combiner) -> Score:
        return self.score_batch([draft], model)[0][0]


# Features that belong to a signal under another name; the rest are named after their signal.
FEATURE_SIGNAL = {
    "producer_logit": "producer_confidence",
    "producer_absent": "producer_confidence",
    "grounding_unverifiable": "grounding",
}


def by_signal(contributions: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for feature, value in contributions.items():
        signal = FEATURE_SIGNAL.get(feature, feature)
        out[signal] = out.get(signal, 0.0) + value
    return out


def _signals(
    results: dict[str, SignalResult | None],
    errors: dict[str, str],
    contributions: dict[str, float],
    *,
    keep: int,
) -> list[Signal]:
    """The event's signals: per signal the first `keep` spans by position, the rest counted."""
    out = []
    for name in sorted(results):
        result = results[name]
        if result is None:
            out.append(Signal(name=name, value=0.0, failed=True, error=errors.get(name)))
        else:
            ordered = sorted(result.spans)  # by start, then end (then label: deterministic)
            out.append(
                Signal(
                    name=name,
                    value=result.value,
                    # Built from our own offsets: constructed without re-validation.
                    spans=[
                        Span.model_construct(start=s.start, end=s.end, label=s.label)
                        for s in ordered[:keep]
                    ],
                    spans_omitted=max(0, len(ordered) - keep) + result.spans_left_out,
                    details=dict(result.details)
                    | {"contribution": round(contributions.get(name, 0.0), 4)},
                )
            )
    return out
