from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitl_schemas import Draft, ModelVersion, ScoredDraft, examples
from scorer.cli import score_file
from scorer.config import ScorerSettings
from scorer.model import Combiner, ModelRejected, fingerprint, load_model, model_version, prior
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier
from testkit import make_draft

SOURCES = ["4.2 Items may be returned within 30 days of delivery for a full refund."]


def test_prior_scores_a_clean_grounded_draft_high_and_a_defective_one_low(
    scorer: Scorer, model: Combiner
) -> None:
    clean = make_draft(
        "Hi Dana, under section 4.2 you can return it within 30 days for a full refund.",
        sources=SOURCES,
    )
    misquoted = make_draft(
        "Hi Dana, under section 6.1 you can return it within 90 days for a full refund.",
        sources=SOURCES,
    )
    scores, _ = scorer.score_batch([clean, misquoted], model)
    # prior-2 holds this one-line refund back for review (~0.6: its words weigh "refund" down,
    # learnt from the simulator's unauthorised refund promises), so the clean draft is judged
    # against the misquoted one, not against a threshold; that the prior passes most clean
    # real e-mails is tests/unit/sim/test_fit_prior.py's check.
    assert scores[0].confidence > scores[1].confidence + 0.3
    assert scores[1].confidence < 0.5
    assert {s.name: s for s in scores[0].signals}["grounding"].value == 0.0
    assert scores[0].model_version == "prior-2"
    flagged = {s.name: s for s in scores[1].signals}["grounding"]
    assert [misquoted.text[x.start : x.end] for x in flagged.spans] == ["section 6.1", "90 days"]


def _with(**params: Any) -> ModelVersion:
    good = prior()
    parameters = dict(good.parameters) | params
    return good.model_copy(update={"parameters": parameters, "sha256": fingerprint(parameters)})


def test_each_signal_reports_its_contribution_to_the_score(scorer: Scorer, model: Combiner) -> None:
    """The reviewer page shows how much each signal pulled the score: weight x value, in
    log-odds, with the producer's two features under producer_confidence."""
    draft = make_draft(
        "Hi Dana, under section 6.1 you can return it within 90 days for a full refund.",
        sources=SOURCES,
    )
    (score,), _ = scorer.score_batch([draft], model)
    signals = {s.name: s for s in score.signals}
    weights = dict(model.weights)
    grounding = signals["grounding"]
    assert grounding.details["contribution"] == pytest.approx(
        weights["grounding"] * grounding.value, abs=1e-3
    )
    assert grounding.details["contribution"] < -1.0  # the misquote is what sank this draft
    assert "contribution" in signals["producer_confidence"].details


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (prior().model_copy(update={"kind": "xgboost-v9"}), "unknown model kind"),
        (prior().model_copy(update={"sha256": "f" * 64}), "sha256"),
        (_with(weights={"shoe_size": 1.0}), "unknown features"),
        (_with(weights={}), "non-empty"),
        (_with(intercept="high"), "finite number"),
        (_with(weights={"pii": 1e400}), "finite number"),
        (_with(calibration={"x": [0.0, 1.0], "y": [0.9, 0.1]}), "non-decreasing"),
        (_with(calibration={"x": [0.0, 1.0], "y": [0.0, 1.5]}), "[0, 1]"),
        (_with(calibration={"x": [0.5], "y": [0.5]}), "at least 2"),
    ],
)
def test_invalid_models_are_refused_with_the_reason(version: ModelVersion, reason: str) -> None:
    with pytest.raises(ModelRejected, match=reason.replace("[", r"\[").replace("]", r"\]")):
        load_model(version)


def test_calibration_curve_maps_raw_probabilities() -> None:
    version = model_version(
        version="cal-1",
        weights={"pii": -1.0},
        intercept=0.0,
        calibration=([0.0, 0.5, 1.0], [0.0, 0.8, 1.0]),
    )
    combiner = load_model(version)
    assert combiner.predict({"pii": 0.0}, "chat_reply") == pytest.approx(0.8)
    assert combiner.raw({"pii": 0.0}, "chat_reply") == pytest.approx(0.5)


def test_content_type_offsets_shift_the_score() -> None:
    combiner = load_model(
        model_version(
            version="o-1", weights={"pii": -1.0}, intercept=0.0, offsets={"legal_clause": -2.0}
        )
    )
    assert combiner.predict({}, "legal_clause") < combiner.predict({}, "chat_reply")


class ExplodingToxicity(ToxicityClassifier):
    def __init__(self) -> None:  # no model needed: it always fails
        pass

    def score_batch(self, drafts: Any) -> Any:
        raise RuntimeError("model exploded")


def test_a_failing_signal_is_reported_and_the_batch_is_scored(
    scorer: Scorer, model: Combiner
) -> None:
    broken = Scorer(policy=scorer.policy, toxicity=ExplodingToxicity())
    scores, stats = broken.score_batch(
        [make_draft("Fine, thanks."), make_draft("Also fine.")], model
    )
    assert len(scores) == 2
    for score in scores:
        toxicity = {s.name: s for s in score.signals}["toxicity"]
        assert toxicity.failed
        assert toxicity.error == "RuntimeError: model exploded"
        assert 0.0 <= score.confidence <= 1.0
    assert stats.failures["toxicity"] == 2


STRANGE = [
    "",
    "😀" * 500,
    "x" * 100_000,
    "Ça coûte 12 € — Привет мир — مرحبا — 你好 — section 4.2.",
    "\ud800 lone surrogate",
    "\n\n\n\t\t  ",
    "$$$ %%% ### @@@ 1,2,3,4,5,6,7,8,9,0 ((((( )))))",
    '"' * 1000,
]


@pytest.mark.parametrize("text", STRANGE)
def test_strange_texts_are_scored(scorer: Scorer, model: Combiner, text: str) -> None:
    # model_copy skips validation: the 100k text is over the default limit, which an operator
    # can raise; the scorer must cope either way.
    draft = make_draft("placeholder", sources=SOURCES).model_copy(update={"text": text})
    [score] = scorer.score_batch([draft], model)[0]
    assert 0.0 <= score.confidence <= 1.0
    assert len(score.signals) == 7


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=2_000), source=st.text(max_size=500))
def test_no_text_crashes_the_scorer(
    scorer: Scorer, model: Combiner, text: str, source: str
) -> None:
    scores, stats = scorer.score_batch([make_draft(text, sources=[source])], model)
    assert 0.0 <= scores[0].confidence <= 1.0
    assert sum(stats.failures.values()) == 0
    for signal in scores[0].signals:
        for span in signal.spans:
            assert 0 <= span.start <= span.end <= len(text)


def test_offline_cli_round_trip(scorer: Scorer, model: Combiner) -> None:
    drafts = [examples.draft(draft_id=f"d-{i}") for i in range(3)]
    lines = [d.model_dump_json() for d in drafts]
    lines.insert(1, '{"draft_id": "broken"}')
    source = io.BytesIO(("\n".join(lines) + "\n").encode())
    sink, errors = io.StringIO(), io.StringIO()

    scored, skipped = score_file(
        source, sink, scorer=scorer, model=model, settings=ScorerSettings(), errors=errors
    )

    assert (scored, skipped) == (3, 1)
    out = [ScoredDraft.model_validate_json(line) for line in sink.getvalue().splitlines()]
    assert [s.draft for s in out] == drafts
    assert all(s.score.model_version == "prior-2" for s in out)
    assert errors.getvalue().startswith("line 2: schema:")
    assert json.loads(lines[0])["draft_id"] == out[0].draft.draft_id
    assert isinstance(out[0].draft, Draft)
