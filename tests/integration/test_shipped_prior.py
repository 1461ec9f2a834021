"""The shipped prior (prior-2) and its builder: safe by construction, checked on held-out text.

The customer e-mails (bench/data/customer_emails.jsonl) are never fitted on; reading them here
is checking. The builder's own pieces are tested on simulated drafts only (no corpus download).
It checks a shipped artefact against the shipped policy (their bounds and thresholds must agree),
so it lives with the integration tests; no broker needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from feedback import safety
from feedback.training import fit
from feedback.window import score_features
from hitl_runtime.policy import Policy, load_policy
from hitl_sim import fit_prior
from hitl_sim.corpora import customer_emails
from hitl_sim.scorer_eval import as_draft, judge
from scorer.features import FEATURES, RISK_SIGNALS, ngram_vector
from scorer.model import PRIOR_VERSION, Combiner, load_model, model_version, prior
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EMAILS = ROOT / "bench" / "data" / "customer_emails.jsonl"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policy" / "default.yaml")


@pytest.fixture(scope="module")
def engine(policy: Policy) -> Scorer:
    return Scorer(policy=policy, toxicity=ToxicityClassifier())


@pytest.fixture(scope="module")
def model() -> Combiner:
    return load_model(prior())


def test_the_prior_is_the_fitted_calibrated_one(model: Combiner) -> None:
    assert model.version == PRIOR_VERSION == "prior-2"
    assert model.reads_text and model.curve_x  # n-gram weights and a calibration curve
    assert prior().trained_on_examples > 0
    assert prior().evaluation["oof_auc.insults-train"] > 0.8  # what the builder measured
    assert not any("bbc" in key for key in prior().evaluation)  # BBC is held out whole


def test_the_prior_keeps_the_builders_bounds(model: Combiner, policy: Policy) -> None:
    weights = dict(model.weights)
    assert set(weights) == set(FEATURES)
    for name, (_, high) in safety.risk_bounds(policy, decimals=fit_prior.DECIMALS).items():
        assert high is not None and high < 0
        assert weights[name] <= high, f"{name} weighs {weights[name]}, above {high}"
    assert weights["producer_absent"] >= 0.0  # no confidence is not by itself a reason to hold
    assert 0.0 <= weights["producer_logit"] <= 1.0
    assert weights["log_chars"] == 0.0


def test_every_defective_email_is_held_and_most_clean_ones_pass(
    engine: Scorer, model: Combiner, policy: Policy
) -> None:
    """The rude, leaking and wrong-amount e-mails stay below their type's threshold or trip a
    hard rule; no producer confidence is sent, and the clean ones still mostly pass."""
    items = customer_emails(EMAILS)
    scores, _ = engine.score_batch([as_draft(i) for i in items], model)
    judged = judge(items, scores, policy)
    escaped = [(j.item.item_id, j.item.kind, round(j.score.confidence, 3))
               for j in judged if j.item.defect and j.passed]  # fmt: skip
    assert not escaped
    clean = [j for j in judged if not j.item.defect]
    assert sum(j.passed for j in clean) >= 0.8 * len(clean)


def test_a_risk_signal_at_full_strength_holds_every_clean_email(
    engine: Scorer, model: Combiner, policy: Policy
) -> None:
    """What the builder checks on simulated drafts, on real ones it never saw: the words of a
    clean e-mail never outvote a risk signal at full strength."""
    items = [i for i in customer_emails(EMAILS) if not i.defect]
    drafts = [as_draft(i) for i in items]
    scores, _ = engine.score_batch(drafts, model)
    for draft, score in zip(drafts, scores, strict=True):
        ct = policy.for_type(draft.content_type)
        assert ct is not None
        named = score_features(draft, score)
        for signal in RISK_SIGNALS:
            if any(rule.signal == signal for rule in ct.hard_rules):
                continue  # at full strength it trips the rule whatever the confidence
            fired = named | {signal: 1.0}
            confidence = model.predict(fired, draft.content_type, ngram_vector(draft.text))
            assert confidence < ct.default_threshold, (draft.draft_id, signal, confidence)


def test_no_producer_confidence_never_lowers_a_score(model: Combiner) -> None:
    present = {"producer_absent": 0.0, "producer_logit": 0.0}  # a producer that says 0.5
    absent = {"producer_absent": 1.0, "producer_logit": 0.0}
    ngrams = np.zeros(1024)
    for content_type in ("chat_reply", "customer_email", "refund_offer", "legal_clause"):
        assert model.predict(absent, content_type, ngrams) >= model.predict(
            present, content_type, ngrams
        )


def test_the_fit_keeps_a_weight_within_its_bound(policy: Policy, engine: Scorer) -> None:
    """Even where the data would make a risk signal raise the confidence, the bound holds."""
    examples = fit_prior.sim_examples(300)
    rows = fit_prior.featurise(examples, engine)
    free = fit(rows)
    bounds = {"toxicity": (None, -2.0), "producer_absent": (0.0, None)}
    held = fit(rows, bounds=bounds)
    assert held.weights["toxicity"] <= -2.0 + 1e-9
    assert held.weights["producer_absent"] >= -1e-9
    assert free.weights != held.weights


def test_a_model_whose_risk_weight_is_too_weak_is_found_unsafe(engine: Scorer) -> None:
    examples = fit_prior.sim_examples(200)
    rows = fit_prior.featurise(examples, engine)
    weights = dict.fromkeys(FEATURES, 0.0) | dict.fromkeys(RISK_SIGNALS, -8.0)
    safe = load_model(model_version(version="t", weights=weights, intercept=3.0))
    weak = load_model(model_version(version="t", weights=weights | {"tone": -0.5}, intercept=3.0))
    assert fit_prior.unsafe(safe, rows, examples, 0.85) == {}
    assert set(fit_prior.unsafe(weak, rows, examples, 0.85)) == {"tone"}


def test_the_firing_levels_are_the_policys_hard_rules(policy: Policy) -> None:
    levels = safety.firing_levels(policy)
    assert levels["pii"] == 0.5 and levels["toxicity"] == 0.7 and levels["grounding"] == 0.3
    assert levels["tone"] == levels["commitments"] == levels["form"] == 1.0
