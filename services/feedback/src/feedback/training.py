"""Retraining the scorer's combiner on human verdicts, and deciding whether it is better.

Features are the scorer's own (`scorer.features`): the signals each example carries and the
hashed n-grams of its draft text, so a trained model reads exactly what the scorer computes.
Each example is first boiled down to a compact `Row` (a few KB, not the draft and its sources),
which is what lets a window of tens of thousands of examples sit in memory. The label is
"approved unchanged" (not `is_error`); audited examples are weighted by 1/q so the fit sees the
traffic as it was, not as it was sampled. The evaluation is time-ordered: train on the older
share, judge both the candidate and the serving model on the newest slice.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from feedback.evaluation import Evaluation, evaluate_scores
from hitl_schemas import FeedbackExample, ModelVersion
from scorer.features import FEATURES, NGRAM_BUCKETS, NgramVector, features, ngram_vector
from scorer.model import Combiner, load_model, model_version
from scorer.signals.base import SignalResult


@dataclass(frozen=True, slots=True)
class Row:
    """What training needs of one FeedbackExample: features in FEATURES order, the non-zero
    n-gram buckets (sparse, float32: ~1.5 KB for a 1 KB draft), label, weight, type and time."""

    content_type: str
    features: npt.NDArray[np.float64]
    ngram_buckets: npt.NDArray[np.uint16]
    ngram_values: npt.NDArray[np.float32]
    label: int
    weight: float
    decided_at: datetime

    def feature_map(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.features.tolist(), strict=True))

    def ngrams(self) -> NgramVector:
        dense = np.zeros(NGRAM_BUCKETS)
        dense[self.ngram_buckets] = self.ngram_values
        return dense


def feature_row(example: FeedbackExample) -> dict[str, float]:
    results: dict[str, SignalResult | None] = {
        s.name: None if s.failed else SignalResult(s.value, (), dict(s.details))
        for s in example.score.signals
    }
    return features(example.draft, results)


def label(example: FeedbackExample) -> int:
    return 0 if example.is_error else 1


def weight(example: FeedbackExample) -> float:
    return 1.0 / example.routing.audit_q if example.routing.audit else 1.0


def to_row(example: FeedbackExample) -> Row:
    named = feature_row(example)
    ngrams = ngram_vector(example.draft.text)
    buckets = np.flatnonzero(ngrams)
    return Row(
        content_type=example.content_type,
        features=np.array([named[name] for name in FEATURES]),
        ngram_buckets=buckets.astype(np.uint16),
        ngram_values=ngrams[buckets].astype(np.float32),
        label=label(example),
        weight=weight(example),
        decided_at=example.decided_at,
    )


def newest(examples: Iterable[FeedbackExample], window: int) -> list[Row]:
    """The `window` most recently decided examples as rows, oldest first. Streams: never more
    than `window` rows in memory, however many examples go by."""
    kept = heapq.nlargest(window, map(to_row, examples), key=lambda r: r.decided_at)
    return kept[::-1]


def predictions(model: Combiner, rows: Sequence[Row]) -> list[float]:
    # Through the scorer's own Combiner: what is judged is exactly what would serve.
    return [
        model.predict(r.feature_map(), r.content_type, r.ngrams() if model.reads_text else None)
        for r in rows
    ]


def evaluate(model: Combiner, rows: Sequence[Row], targets: Mapping[str, float]) -> Evaluation:
    return evaluate_scores(
        predictions(model, rows),
        [r.label for r in rows],
        [r.weight for r in rows],
        [r.content_type for r in rows],
        targets,
    )


@dataclass(frozen=True)
class Fitted:
    weights: dict[str, float]
    intercept: float
    offsets: dict[str, float]
    ngram_weights: tuple[float, ...]
    trained_on: int

    def version(self, name: str, evaluation: dict[str, float] | None = None) -> ModelVersion:
        return model_version(
            version=name,
            weights=self.weights,
            intercept=self.intercept,
            offsets=self.offsets,
            evaluation=evaluation,
            trained_on=self.trained_on,
            ngram_weights=self.ngram_weights,
        )


def design_matrix(rows: Sequence[Row], types: Sequence[str]) -> Any:
    """Sparse rows: [FEATURES | one-hot content type | n-gram buckets], float32. Sparse because a
    dense 50,000 x 1,000 matrix is 400 MB where this is ~2 KB a row; filled in place, because
    per-row pieces joined at the end would need that much again."""
    from scipy.sparse import csr_matrix

    column_of_type = {t: len(FEATURES) + i for i, t in enumerate(types)}
    ngram_start = len(FEATURES) + len(types)
    per_row = np.array([len(FEATURES) + 1 + len(r.ngram_buckets) for r in rows], dtype=np.int64)
    indptr = np.concatenate(([0], np.cumsum(per_row)))
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    values = np.empty(int(indptr[-1]), dtype=np.float32)
    dense_columns = np.arange(len(FEATURES), dtype=np.int32)
    for i, r in enumerate(rows):
        start, type_at, end = indptr[i], indptr[i] + len(FEATURES), indptr[i + 1]
        indices[start:type_at], values[start:type_at] = dense_columns, r.features
        indices[type_at], values[type_at] = column_of_type[r.content_type], 1.0
        indices[type_at + 1 : end] = r.ngram_buckets.astype(np.int32) + ngram_start
        values[type_at + 1 : end] = r.ngram_values
    return csr_matrix((values, indices, indptr), shape=(len(rows), ngram_start + NGRAM_BUCKETS))


def fit(rows: Sequence[Row]) -> Fitted:
    """L2-regularised logistic regression on the scorer's features, one offset per content type
    and the text n-grams."""
    from sklearn.linear_model import LogisticRegression

    types = sorted({r.content_type for r in rows})
    fitted = LogisticRegression(C=1.0, max_iter=2000)
    fitted.fit(
        design_matrix(rows, types),
        [r.label for r in rows],
        sample_weight=[r.weight for r in rows],
    )
    coefs = [float(c) for c in fitted.coef_[0]]
    ngram_start = len(FEATURES) + len(types)
    return Fitted(
        weights=dict(zip(FEATURES, coefs[: len(FEATURES)], strict=True)),
        intercept=float(fitted.intercept_[0]),
        offsets=dict(zip(types, coefs[len(FEATURES) : ngram_start], strict=True)),
        ngram_weights=tuple(coefs[ngram_start:]),
        trained_on=len(rows),
    )


@dataclass(frozen=True)
class Retraining:
    candidate: ModelVersion
    candidate_eval: Evaluation
    serving_eval: Evaluation
    refusals: tuple[str, ...]  # why the candidate is not better; empty when it is

    @property
    def better(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class PublishRule:
    # Swap only for a real gain: 1 % lower log-loss on the newest slice, an AUC no worse than the
    # serving one beyond sampling noise (a few hundred held-out verdicts move AUC by ~0.02), and
    # no content type with enough held-out items needing more reviews at its target escape rate
    # beyond the larger of the tolerance and the estimate's own noise (TypeEvaluation.noise: at
    # low targets a handful of escapes moves it a lot, and noise must not veto a better model).
    min_gain: float = 0.01
    auc_tolerance: float = 0.02
    review_rate_tolerance: float = 0.02
    min_type_examples: int = 100

    def refusals(self, candidate: Evaluation, serving: Evaluation) -> tuple[str, ...]:
        out = []
        if not candidate.log_loss < serving.log_loss * (1 - self.min_gain):
            out.append(
                f"log-loss {candidate.log_loss:.4f} is not {self.min_gain:.0%} below "
                f"{serving.log_loss:.4f}"
            )
        if serving.auc is not None and (candidate.auc or 0.0) < serving.auc - self.auc_tolerance:
            out.append(f"AUC {candidate.auc} is below {serving.auc:.4f} - {self.auc_tolerance}")
        for name, mine in sorted(candidate.by_type.items()):
            theirs = serving.by_type.get(name)
            if theirs is None or mine.examples < self.min_type_examples:
                continue
            allowed = max(self.review_rate_tolerance, theirs.noise)
            if mine.review_rate > theirs.review_rate + allowed:
                out.append(
                    f"{name}: review rate at target {mine.review_rate:.3f} is above "
                    f"{theirs.review_rate:.3f} + {allowed:.3f}"
                )
        return tuple(out)


def retrain(
    rows: Sequence[Row],
    serving: Combiner,
    targets: Mapping[str, float],
    *,
    holdout: float = 0.2,
    min_examples: int = 200,
    rule: PublishRule = PublishRule(),  # noqa: B008 - frozen, never mutated
) -> Retraining | None:
    """Fit on the older rows, compare with the serving model on the newest slice. None when
    there is too little data or only one class to learn from."""
    ordered = sorted(rows, key=lambda r: r.decided_at)
    if len(ordered) < min_examples:
        return None
    cut = int(len(ordered) * (1 - holdout))
    train, test = ordered[:cut], ordered[cut:]
    if len({r.label for r in train}) < 2:
        return None
    fitted = fit(train)
    candidate_eval = evaluate(load_model(fitted.version("candidate")), test, targets)
    serving_eval = evaluate(serving, test, targets)
    evaluation = {f"holdout_{k}": v for k, v in candidate_eval.as_dict().items()} | {
        f"serving_{k}": v for k, v in serving_eval.as_dict().items()
    }
    # Unique per run: two runs in one second must not share a version the scorer would skip.
    name = f"trained-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    return Retraining(
        fitted.version(name, evaluation),
        candidate_eval,
        serving_eval,
        rule.refusals(candidate_eval, serving_eval),
    )
