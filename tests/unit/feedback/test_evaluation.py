from __future__ import annotations

import pytest

from feedback.evaluation import Evaluation, TypeEvaluation, review_rate_at_target
from feedback.training import PublishRule


@pytest.mark.parametrize(
    ("scores", "errors", "weights", "target", "expected"),
    [
        ([], [], [], 0.05, 1.0),  # nothing to judge: review everything
        ([0.9, 0.8, 0.7], [False] * 3, [1.0] * 3, 0.0, 0.0),  # no errors: review nothing
        ([0.9, 0.8, 0.7], [True] * 3, [1.0] * 3, 0.5, 1.0),  # all errors: review everything
        # Perfect ranking: the two errors at the bottom are reviewed, the rest goes through.
        ([0.9, 0.8, 0.3, 0.2], [False, False, True, True], [1.0] * 4, 0.0, 0.5),
        # One escape in four approved items is 25 %: within a 30 % target, not a 20 % one.
        ([0.9, 0.8, 0.7, 0.6, 0.1], [False, True, False, False, True], [1.0] * 5, 0.3, 0.2),
        ([0.9, 0.8, 0.7, 0.6, 0.1], [False, True, False, False, True], [1.0] * 5, 0.2, 0.8),
        # Tied scores go through together: the top pair alone (1 in 2) is over 40 %; all three
        # (1 in 3) are within it, so the escape rate is not monotone and the widest fit wins.
        ([0.9, 0.9, 0.1], [False, True, False], [1.0] * 3, 0.4, 0.0),
        ([0.9, 0.9, 0.1], [False, True, False], [1.0] * 3, 0.3, 1.0),
        # An audited item stands for 1/q items: reviewing the error is 3/4 of the traffic.
        ([0.9, 0.5], [False, True], [1.0, 3.0], 0.5, 0.75),
        ([0.9, 0.5], [True, False], [1.0, 3.0], 0.5, 0.0),
    ],
)
def test_review_rate_at_target(
    scores: list[float], errors: list[bool], weights: list[float], target: float, expected: float
) -> None:
    assert review_rate_at_target(scores, errors, weights, target) == pytest.approx(expected)


def _evaluation(log_loss: float, auc: float | None, review: float, n: int = 100_000) -> Evaluation:
    return Evaluation(
        examples=n,
        log_loss=log_loss,
        auc=auc,
        ece=0.05,
        by_type={"legal_clause": TypeEvaluation(n, 0.005, review)},
    )


@pytest.mark.parametrize(
    ("candidate", "serving", "refused_for"),
    [
        (_evaluation(0.30, 0.90, 0.40), _evaluation(0.40, 0.90, 0.40), []),
        (_evaluation(0.398, 0.90, 0.40), _evaluation(0.40, 0.90, 0.40), ["log-loss"]),
        (_evaluation(0.30, 0.85, 0.40), _evaluation(0.40, 0.90, 0.40), ["AUC"]),
        (_evaluation(0.30, 0.89, 0.41), _evaluation(0.40, 0.90, 0.40), []),  # within tolerance
        (_evaluation(0.30, 0.90, 0.45), _evaluation(0.40, 0.90, 0.40), ["legal_clause"]),
        # On 20,000 items at a 0.5 % target the serving figure is noisy (~0.08): 0.45 against
        # 0.40 is within it; 0.50 is not.
        (_evaluation(0.30, 0.90, 0.45, 20_000), _evaluation(0.40, 0.90, 0.40, 20_000), []),
        (
            _evaluation(0.30, 0.90, 0.50, 20_000),
            _evaluation(0.40, 0.90, 0.40, 20_000),
            ["legal_clause"],
        ),
        # Too few held-out items of the type to judge its review rate: not held against it.
        (_evaluation(0.30, 0.90, 0.90, n=40), _evaluation(0.40, 0.90, 0.40, n=40), []),
        (_evaluation(0.30, None, 0.40), _evaluation(0.40, None, 0.40), []),
    ],
)
def test_publish_rule(candidate: Evaluation, serving: Evaluation, refused_for: list[str]) -> None:
    refusals = PublishRule().refusals(candidate, serving)
    assert len(refusals) == len(refused_for)
    for reason, word in zip(refusals, refused_for, strict=True):
        assert word in reason


def test_evaluation_dict_carries_the_review_rate_per_type() -> None:
    flat = _evaluation(0.3, 0.9, 0.25).as_dict()
    assert flat["review_rate_at_target.legal_clause"] == 0.25
    assert flat["examples.legal_clause"] == 100_000.0
    assert "auc" not in _evaluation(0.3, None, 0.25).as_dict()


@pytest.mark.parametrize(
    ("n", "target", "rate", "noise"),
    [(600, 0.02, 0.8, 0.129), (100_000, 0.005, 0.4, 0.035), (1000, 0.03, 1.0, 0.0)],
)
def test_review_rate_noise(n: int, target: float, rate: float, noise: float) -> None:
    assert TypeEvaluation(n, target, rate).noise == pytest.approx(noise, abs=1e-3)
