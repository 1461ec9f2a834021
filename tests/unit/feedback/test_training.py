from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from feedback.training import evaluate, expected_calibration_error, retrain
from hitl_schemas import FeedbackExample, Signal, examples
from scorer.model import load_model, model_version, prior

# The world: drafts go wrong mostly through ungrounded facts and bad form; the producer's own
# confidence helps a little. The hand-set prior knows the direction but not the sizes.
TRUE_WEIGHTS = {"grounding": -6.0, "form": -4.0, "producer_logit": 0.3, "pii": -1.0}
TRUE_INTERCEPT = 2.5


def world(n: int, seed: int) -> list[FeedbackExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        values = {
            "grounding": rng.random() ** 3,
            "form": rng.random() ** 4,
            "pii": float(rng.random() < 0.05),
        }
        confidence = rng.uniform(0.6, 0.99)
        z = TRUE_INTERCEPT + TRUE_WEIGHTS["producer_logit"] * math.log(
            confidence / (1 - confidence)
        )
        z += sum(TRUE_WEIGHTS[k] * v for k, v in values.items())
        approved = rng.random() < 1 / (1 + math.exp(-z))
        signals = [Signal(name=k, value=v) for k, v in values.items()] + [
            Signal(name="producer_confidence", value=confidence, details={"source": "reported"}),
            Signal(name="toxicity", value=0.0),
            Signal(name="tone", value=0.0),
            Signal(name="commitments", value=0.0),
        ]
        out.append(
            examples.feedback_example(
                draft_id=f"w-{i}",
                verdict="approve" if approved else "reject",
                final_text=None,
                is_error=not approved,
                score=examples.score(signals=signals, confidence=0.5),
                decided_at=examples.T0 + timedelta(minutes=i),
            )
        )
    return out


def test_a_retrained_model_beats_the_prior_on_the_newest_slice() -> None:
    result = retrain(world(3000, seed=1), load_model(prior()))
    assert result is not None and result.better
    assert result.candidate_eval.log_loss < result.serving_eval.log_loss
    assert (result.candidate_eval.auc or 0) >= (result.serving_eval.auc or 0)
    assert result.candidate_eval.ece < result.serving_eval.ece
    assert result.candidate.evaluation["holdout_auc"] == pytest.approx(result.candidate_eval.auc)
    load_model(result.candidate)  # the artifact passes the scorer's own validation


def test_a_model_no_better_than_the_serving_one_is_not_published() -> None:
    truth = load_model(
        model_version(version="truth", weights=TRUE_WEIGHTS, intercept=TRUE_INTERCEPT)
    )
    result = retrain(world(3000, seed=2), truth)
    assert result is not None and not result.better


def test_too_little_data_trains_nothing() -> None:
    assert retrain(world(50, seed=3), load_model(prior())) is None


def test_calibration_error_of_a_perfectly_calibrated_predictor_is_small() -> None:
    rng = random.Random(4)
    probs = [rng.random() for _ in range(20000)]
    labels = [int(rng.random() < p) for p in probs]
    assert expected_calibration_error(probs, labels) < 0.02
    assert expected_calibration_error([0.9] * 100, [0] * 100) == pytest.approx(0.9)


def test_evaluate_reports_auc_only_with_both_classes() -> None:
    clean = [e for e in world(400, seed=5) if not e.is_error][:50]
    assert evaluate(load_model(prior()), clean).auc is None
