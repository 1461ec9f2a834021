"""How good a model's scores are on held-out human verdicts: plain numbers from plain lists.

Log-loss, AUC and expected calibration error over the whole slice, and per content type the
review rate at the type's target escape rate: the share of traffic a threshold on this model's
scores must send to humans so that the auto-approved rest stays within the target. That last one
is what a better model buys the operator (fewer reviews at the same risk), so it is judged too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TypeEvaluation:
    examples: int
    target_escape_rate: float
    review_rate: float

    @property
    def noise(self) -> float:
        """About one standard error of `review_rate`. The auto-approved share (1 - r)n holds
        about target * (1 - r)n escapes, a Poisson count; each escape more or less moves the
        threshold by 1/target items: sqrt((1 - r) / (target * n)). At a 2 % target, 600 items
        and r = 0.8 that is ~0.13; at a 0.5 % target it takes 20,000 items for ~0.08 at r = 0.4."""
        return math.sqrt((1.0 - self.review_rate) / (self.target_escape_rate * self.examples))


@dataclass(frozen=True)
class Evaluation:
    examples: int
    log_loss: float
    auc: float | None
    ece: float
    by_type: Mapping[str, TypeEvaluation] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """Flat, for ModelVersion.evaluation: `review_rate_at_target.<type>` per judged type."""
        out = {"examples": float(self.examples), "log_loss": self.log_loss, "ece": self.ece}
        if self.auc is not None:
            out["auc"] = self.auc
        for name, t in sorted(self.by_type.items()):
            out[f"review_rate_at_target.{name}"] = t.review_rate
            out[f"examples.{name}"] = float(t.examples)
        return out


def evaluate_scores(
    probs: Sequence[float],
    labels: Sequence[int],
    weights: Sequence[float],
    content_types: Sequence[str],
    targets: Mapping[str, float],
) -> Evaluation:
    """`labels`: 1 = approved unchanged; `weights`: 1/q for audits (used where traffic shares
    matter: the review rate); `targets`: target escape rate per content type (the policy's)."""
    by_type: dict[str, TypeEvaluation] = {}
    for name in sorted(set(content_types) & set(targets)):
        members = [i for i, t in enumerate(content_types) if t == name]
        rate = review_rate_at_target(
            [probs[i] for i in members],
            [labels[i] == 0 for i in members],
            [weights[i] for i in members],
            targets[name],
        )
        by_type[name] = TypeEvaluation(len(members), targets[name], rate)
    return Evaluation(
        examples=len(probs),
        log_loss=log_loss(probs, labels),
        auc=auc(probs, labels),
        ece=expected_calibration_error(probs, labels),
        by_type=by_type,
    )


def log_loss(probs: Sequence[float], labels: Sequence[int]) -> float:
    eps = 1e-6
    return -sum(
        y * math.log(max(p, eps)) + (1 - y) * math.log(max(1 - p, eps))
        for p, y in zip(probs, labels, strict=True)
    ) / len(probs)


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


def review_rate_at_target(
    scores: Sequence[float],
    errors: Sequence[bool],
    weights: Sequence[float],
    target_escape_rate: float,
) -> float:
    """The smallest (weighted) share of items sent to review by a threshold t (score < t goes to
    review) such that the (weighted) error rate among the items with score >= t is at most the
    target. 1.0 when only reviewing everything meets it. Weights let an audited item stand for
    the 1/q auto-approved items it was sampled from."""
    total = sum(weights)
    if total <= 0:
        return 1.0
    order = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
    approved = escaped = best = 0.0
    for position, i in enumerate(order):
        approved += weights[i]
        escaped += weights[i] if errors[i] else 0.0
        # A threshold falls between two distinct scores: tied items are approved together.
        tied_with_next = position + 1 < len(order) and scores[order[position + 1]] == scores[i]
        if not tied_with_next and escaped <= target_escape_rate * approved:
            best = approved  # the escape rate is not monotone in t: keep the widest that fits
    return max(0.0, 1.0 - best / total)


def auc(probs: Sequence[float], labels: Sequence[int]) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs)) if len(set(labels)) == 2 else None
