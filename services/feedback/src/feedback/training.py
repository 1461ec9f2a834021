"""Retraining the scorer's combiner on human verdicts, and deciding whether it is better.

Features are the scorer's own (`scorer.features`): the signals each example carries and the
hashed n-grams of its draft text, so a trained model reads exactly what the scorer computes.
Each example is featurised as it is read into a `Window` of flat arrays (`feedback.window`: the
numbers, not the draft and its sources, and no object per row), which is what lets a window of
tens of thousands of examples sit in memory. The label is
"approved unchanged" (not `is_error`); audited examples are weighted by 1/q so the fit sees the
traffic as it was, not as it was sampled. The evaluation is time-ordered: train on the older
share, judge both the candidate and the serving model on the newest slice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from feedback.evaluation import Evaluation, evaluate_scores
from feedback.window import Window, type_columns
from hitl_schemas import ModelVersion
from scorer.features import FEATURES, NGRAM_BUCKETS
from scorer.model import Combiner, load_model, model_version


def predictions(model: Combiner, rows: Window) -> list[float]:
    # Through the scorer's own Combiner, row by row: what is judged is exactly what would serve.
    return [
        model.predict(
            rows.feature_map(i), rows.content_type(i), rows.ngrams(i) if model.reads_text else None
        )
        for i in range(len(rows))
    ]


def evaluate(model: Combiner, rows: Window, targets: Mapping[str, float]) -> Evaluation:
    return evaluate_scores(
        predictions(model, rows),
        rows.labels.tolist(),
        rows.weights.tolist(),
        rows.content_types(),
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


def design_matrix(rows: Window, types: Sequence[str]) -> Any:
    """Sparse rows: [FEATURES | one-hot content type | n-gram buckets]. Sparse because a dense
    50,000 x 1,000 matrix is 400 MB where this is ~12 bytes an entry; float64 because that is
    what the solver works in (float32 would be copied to float64: both at once). Filled in place
    from the window's arrays: row i's entries start at i * (len(FEATURES) + 1) plus the n-grams
    of the rows before it."""
    from scipy.sparse import csr_matrix

    dense = len(FEATURES) + 1  # the features and the type's one-hot column, in every row
    ngram_start = len(FEATURES) + len(types)
    n = len(rows)
    indptr = np.arange(n + 1, dtype=np.int64) * dense + rows.ngram_indptr
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    values = np.empty(int(indptr[-1]), dtype=np.float64)
    row_starts = indptr[:-1]
    feature_at = row_starts[:, None] + np.arange(len(FEATURES))
    indices[feature_at] = np.arange(len(FEATURES), dtype=np.int32)
    values[feature_at] = rows.features
    type_at = row_starts + len(FEATURES)
    indices[type_at] = type_columns(rows, {t: len(FEATURES) + i for i, t in enumerate(types)})
    values[type_at] = 1.0
    # The n-grams row by row: an index array over every entry would cost 16 bytes an entry at
    # the run's peak, more than the matrix itself.
    source = rows.ngram_indptr.tolist()
    for i, at in enumerate((type_at + 1).tolist()):
        start, end = source[i], source[i + 1]
        indices[at : at + end - start] = rows.ngram_buckets[start:end]
        indices[at : at + end - start] += ngram_start
        values[at : at + end - start] = rows.ngram_values[start:end]
    return csr_matrix((values, indices, indptr), shape=(n, ngram_start + NGRAM_BUCKETS))


Bounds = Mapping[str, tuple[float | None, float | None]]


def fit(
    rows: Window, *, bounds: Bounds | None = None, c: float = 1.0, ngram_c: float | None = None
) -> Fitted:
    """L2-regularised logistic regression on the scorer's features, one offset per content type
    and the text n-grams: sklearn's objective (C x the weighted log-loss + half the squared
    weights, the intercept not penalised), minimised by L-BFGS-B, which also keeps each named
    feature's weight within its `bounds` (low, high; None for no limit), e.g. a risk signal's
    at or below a negative number, so that more risk can never raise the confidence.
    `ngram_c` (default `c`): the n-gram weights' own C, smaller to keep them smaller."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    types = rows.present_types()
    x = design_matrix(rows, types)
    y = rows.labels.astype(np.float64)
    sw = rows.weights
    columns = x.shape[1]
    unknown = sorted(set(bounds or {}) - set(FEATURES))
    if unknown:
        raise ValueError(f"bounds for unknown features {unknown}; known: {list(FEATURES)}")
    ngram_start = len(FEATURES) + len(types)
    penalty = np.ones(columns)
    penalty[ngram_start:] = c / (c if ngram_c is None else ngram_c)
    limits: list[tuple[float | None, float | None]] = [(None, None)] * (columns + 1)  # + intercept
    for name, low_high in (bounds or {}).items():
        limits[FEATURES.index(name)] = low_high

    def loss(theta: Any) -> tuple[float, Any]:
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        # -log p(label) = -(y log s(z) + (1 - y) log s(-z)), stably
        value = -float(sw @ (y * log_expit(z) + (1.0 - y) * log_expit(-z)))
        residual = sw * (expit(z) - y)
        grad = np.empty_like(theta)
        grad[:-1] = c * (x.T @ residual) + penalty * w
        grad[-1] = c * residual.sum()
        return c * value + 0.5 * float(penalty @ (w * w)), grad

    low = np.array([-np.inf if lo is None else lo for lo, _ in limits])
    high = np.array([np.inf if hi is None else hi for _, hi in limits])
    start = np.clip(np.zeros(columns + 1), low, high)  # zero, or the nearest feasible point
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=limits,
                      options={"maxiter": 2000})  # fmt: skip
    coefs = [float(v) for v in result.x[:-1]]
    return Fitted(
        weights=dict(zip(FEATURES, coefs[: len(FEATURES)], strict=True)),
        intercept=float(result.x[-1]),
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
    rows: Window,
    serving: Combiner,
    targets: Mapping[str, float],
    *,
    holdout: float = 0.2,
    min_examples: int = 200,
    rule: PublishRule = PublishRule(),  # noqa: B008 - frozen, never mutated
    bounds: Bounds | None = None,
) -> Retraining | None:
    """Fit on the older rows (each weight within `bounds`: the service passes
    `feedback.safety.safety_bounds`), compare with the serving model on the newest slice. None
    when there is too little data or only one class to learn from."""
    if len(rows) < min_examples:
        return None
    if np.any(np.diff(rows.decided_at) < 0):  # a window from feedback.window is in order
        rows = rows.take(np.argsort(rows.decided_at, kind="stable"))
    cut = int(len(rows) * (1 - holdout))
    train, test = rows[:cut], rows[cut:]
    if len(np.unique(train.labels)) < 2:
        return None
    fitted = fit(train, bounds=bounds)
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
