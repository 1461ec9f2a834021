"""Retraining the scorer's combiner on human verdicts, and deciding whether it is better.

Features are the scorer's own (`scorer.features`), rebuilt from the signals each example carries,
so a trained model reads exactly what the scorer computes. The label is "approved unchanged"
(not `is_error`); audited examples are weighted by 1/q so the fit sees the traffic as it was, not
as it was sampled. The evaluation is time-ordered: train on the older share, judge both the
candidate and the serving model on the newest slice (log-loss, AUC, expected calibration error).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hitl_schemas import FeedbackExample, ModelVersion
from scorer.features import FEATURES, features
from scorer.model import Combiner, model_version
from scorer.signals.base import SignalResult


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


@dataclass(frozen=True)
class Evaluation:
    examples: int
    log_loss: float
    auc: float | None
    ece: float

    def as_dict(self) -> dict[str, float]:
        out = {"examples": float(self.examples), "log_loss": self.log_loss, "ece": self.ece}
        if self.auc is not None:
            out["auc"] = self.auc
        return out


def expected_calibration_error(
    probs: Sequence[float], labels: Sequence[int], bins: int = 10
) -> float:
    total = len(probs)
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            i for i, p in enumerate(probs) if low <= p < high or (b == bins - 1 and p == 1.0)
        ]
        if members:
            mean_p = sum(probs[i] for i in members) / len(members)
            mean_y = sum(labels[i] for i in members) / len(members)
            error += len(members) / total * abs(mean_p - mean_y)
    return error


def evaluate(model: Combiner, examples: Sequence[FeedbackExample]) -> Evaluation:
    from sklearn.metrics import roc_auc_score

    probs = [model.predict(feature_row(e), e.content_type) for e in examples]
    labels = [label(e) for e in examples]
    eps = 1e-6
    loss = -sum(
        y * math.log(max(p, eps)) + (1 - y) * math.log(max(1 - p, eps))
        for p, y in zip(probs, labels, strict=True)
    ) / len(examples)
    auc = float(roc_auc_score(labels, probs)) if len(set(labels)) == 2 else None
    return Evaluation(len(examples), loss, auc, expected_calibration_error(probs, labels))


@dataclass(frozen=True)
class Fitted:
    weights: dict[str, float]
    intercept: float
    offsets: dict[str, float]
    trained_on: int

    def version(self, name: str, evaluation: dict[str, float] | None = None) -> ModelVersion:
        return model_version(
            version=name,
            weights=self.weights,
            intercept=self.intercept,
            offsets=self.offsets,
            evaluation=evaluation,
            trained_on=self.trained_on,
        )


def fit(examples: Sequence[FeedbackExample]) -> Fitted:
    """Logistic regression on the scorer's features plus one offset per content type."""
    from sklearn.linear_model import LogisticRegression

    types = sorted({e.content_type for e in examples})
    rows = []
    for e in examples:
        row = feature_row(e)
        rows.append([row[name] for name in FEATURES] + [float(e.content_type == t) for t in types])
    fitted = LogisticRegression(C=1.0, max_iter=2000)
    fitted.fit(rows, [label(e) for e in examples], sample_weight=[weight(e) for e in examples])
    coefs = [float(c) for c in fitted.coef_[0]]
    return Fitted(
        weights=dict(zip(FEATURES, coefs[: len(FEATURES)], strict=True)),
        intercept=float(fitted.intercept_[0]),
        offsets=dict(zip(types, coefs[len(FEATURES) :], strict=True)),
        trained_on=len(examples),
    )


@dataclass(frozen=True)
class Retraining:
    candidate: ModelVersion
    candidate_eval: Evaluation
    serving_eval: Evaluation
    better: bool


def retrain(
    examples: Sequence[FeedbackExample],
    serving: Combiner,
    *,
    holdout: float = 0.2,
    min_examples: int = 200,
    min_gain: float = 0.01,
    auc_tolerance: float = 0.02,
) -> Retraining | None:
    """Fit on the older examples, compare with the serving model on the newest slice. None when
    there is too little data or only one class to learn from."""
    ordered = sorted(examples, key=lambda e: e.decided_at)
    if len(ordered) < min_examples:
        return None
    cut = int(len(ordered) * (1 - holdout))
    train, test = ordered[:cut], ordered[cut:]
    if len({label(e) for e in train}) < 2:
        return None
    from scorer.model import load_model

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    fitted = fit(train)
    candidate_eval = evaluate(load_model(fitted.version("candidate")), test)
    serving_eval = evaluate(serving, test)
    # Swap only for a real gain: 1 % lower log-loss on the newest slice, and an AUC no worse than
    # the serving one beyond sampling noise (a few hundred held-out verdicts move AUC by ~0.02).
    better = candidate_eval.log_loss < serving_eval.log_loss * (1 - min_gain) and (
        serving_eval.auc is None or (candidate_eval.auc or 0.0) >= serving_eval.auc - auc_tolerance
    )
    evaluation = {f"holdout_{k}": v for k, v in candidate_eval.as_dict().items()} | {
        f"serving_{k}": v for k, v in serving_eval.as_dict().items()
    }
    return Retraining(
        fitted.version(f"trained-{stamp}", evaluation), candidate_eval, serving_eval, better
    )
