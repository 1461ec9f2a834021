from __future__ import annotations

import random

import pytest
from unit.feedback.world import TARGETS, TRUE_INTERCEPT, TRUE_WEIGHTS, rows, world

from feedback.evaluation import expected_calibration_error
from feedback.training import design_matrix, evaluate, retrain
from feedback.window import WindowBuilder, newest
from scorer.features import FEATURES, NGRAM_BUCKETS, ngram_vector
from scorer.model import load_model, model_version, prior
from testkit import POLICY_FILE


def test_a_retrained_model_beats_the_prior_on_the_newest_slice() -> None:
    result = retrain(rows(world(3000, seed=1)), load_model(prior()), TARGETS)
    assert result is not None and result.better, result and result.refusals
    assert result.candidate_eval.log_loss < result.serving_eval.log_loss
    assert (result.candidate_eval.auc or 0) >= (result.serving_eval.auc or 0)
    assert result.candidate_eval.ece < result.serving_eval.ece
    evaluation = result.candidate.evaluation
    assert evaluation["holdout_auc"] == pytest.approx(result.candidate_eval.auc)
    assert evaluation["holdout_review_rate_at_target.customer_email"] <= (
        evaluation["serving_review_rate_at_target.customer_email"] + 0.02
    )
    assert evaluation["holdout_examples.customer_email"] == 600
    load_model(result.candidate)  # the artifact passes the scorer's own validation


def test_a_model_no_better_than_the_serving_one_is_not_published() -> None:
    truth = load_model(
        model_version(version="truth", weights=TRUE_WEIGHTS, intercept=TRUE_INTERCEPT)
    )
    result = retrain(rows(world(3000, seed=2)), truth, TARGETS)
    assert result is not None and not result.better
    assert any("log-loss" in reason for reason in result.refusals)


def test_text_ngrams_are_learned_where_the_signals_see_nothing() -> None:
    result = retrain(rows(world(3000, seed=6, self_talk=0.3)), load_model(prior()), TARGETS)
    assert result is not None and result.better
    model = load_model(result.candidate)
    assert model.reads_text
    talking = rows(world(1, seed=7, self_talk=1.0))
    plain = rows(world(1, seed=7))
    assert model.predict(talking.feature_map(0), "customer_email", talking.ngrams(0)) < 0.3
    assert model.predict(plain.feature_map(0), "customer_email", plain.ngrams(0)) > 0.5


def test_too_little_data_trains_nothing() -> None:
    assert retrain(rows(world(50, seed=3)), load_model(prior()), TARGETS) is None


def test_the_window_keeps_the_newest_rows_oldest_first() -> None:
    shuffled = world(500, seed=8)
    random.Random(8).shuffle(shuffled)
    kept = newest(iter(shuffled), 100)
    newest_100 = sorted(e.decided_at for e in shuffled)[-100:]
    assert [kept.decided(i) for i in range(len(kept))] == newest_100


def test_the_window_never_holds_much_more_than_its_size_while_reading() -> None:
    builder = WindowBuilder(50)
    sizes = []
    for example in world(400, seed=10):
        builder.add(example)
        sizes.append(len(builder))
    assert max(sizes) < 100
    assert len(builder.build()) == 50


def test_a_row_keeps_the_scorers_features_and_ngrams() -> None:
    talking, plain = world(1, seed=9, self_talk=1.0)[0], world(1, seed=11)[0]
    window = rows([talking, plain.model_copy(update={"content_type": "chat_reply"})])
    for i, example in enumerate((talking, plain)):
        assert window.ngrams(i) == pytest.approx(ngram_vector(example.draft.text), abs=1e-6)
        grounding = {s.name: s.value for s in example.score.signals}["grounding"]
        assert window.feature_map(i)["grounding"] == grounding
    matrix = design_matrix(window, ["chat_reply", "customer_email"]).toarray()
    assert matrix.shape == (2, len(FEATURES) + 2 + NGRAM_BUCKETS)
    assert matrix[0, len(FEATURES) + 1] == 1.0  # the customer_email offset column
    assert matrix[1, len(FEATURES)] == 1.0  # chat_reply's
    for i in range(2):
        assert matrix[i, : len(FEATURES)] == pytest.approx(window.features[i])
        assert matrix[i, len(FEATURES) + 2 :] == pytest.approx(window.ngrams(i))


def test_calibration_error_of_a_perfectly_calibrated_predictor_is_small() -> None:
    rng = random.Random(4)
    probs = [rng.random() for _ in range(20000)]
    labels = [int(rng.random() < p) for p in probs]
    assert expected_calibration_error(probs, labels) < 0.02
    assert expected_calibration_error([0.9] * 100, [0] * 100) == pytest.approx(0.9)


def test_evaluate_reports_auc_only_with_both_classes() -> None:
    clean = [e for e in world(400, seed=5) if not e.is_error][:50]
    evaluation = evaluate(load_model(prior()), rows(clean), TARGETS)
    assert evaluation.auc is None
    assert evaluation.by_type["customer_email"].review_rate == 0.0  # no errors: review nothing


def test_a_retrained_model_keeps_the_safety_bounds_the_prior_was_built_under() -> None:
    """Verdicts in which a risk signal mattered little (in this world PII costs -1 log-odds:
    reviewers passed most drafts it flagged) must not teach the combiner to wave it through."""

    from feedback.safety import RISK_FEATURES, safety_bounds
    from hitl_runtime.policy import load_policy

    policy = load_policy(POLICY_FILE)
    bounds = safety_bounds(policy)
    assert set(RISK_FEATURES) <= set(bounds)
    assert all(high is not None and high < 0 for _, high in (bounds[f] for f in RISK_FEATURES))
    lenient = rows(world(3000, seed=4))
    free = retrain(lenient, load_model(prior()), TARGETS)
    held = retrain(lenient, load_model(prior()), TARGETS, bounds=bounds)
    assert free is not None and held is not None
    pii_bound = bounds["pii"][1]
    assert pii_bound is not None
    assert free.candidate.parameters["weights"]["pii"] > pii_bound  # what an open fit learns
    for name in RISK_FEATURES:
        high = bounds[name][1]
        assert high is not None
        assert held.candidate.parameters["weights"][name] <= high + 1e-9, name
