from __future__ import annotations

import math

import pytest

from hitl_runtime.policy import FormPolicy
from hitl_schemas import ProducerInfo
from scorer.signals.commitments import commitments
from scorer.signals.form import form
from scorer.signals.grounding import MAX_REFERENCE_CHARS
from scorer.signals.producer import producer_confidence
from scorer.signals.toxicity import ToxicityClassifier, tone
from testkit import make_draft

ALL = ("refund", "guarantee", "legal", "medical", "financial", "deadline")


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("We will refund you the full amount today.", {"refund"}),
        ("I guarantee this will never happen again.", {"guarantee"}),
        ("You are legally entitled to compensation for the delay.", {"legal"}),
        ("You should take 400 mg twice a day.", {"medical"}),
        ("This fund offers guaranteed returns of 12%.", {"financial", "guarantee"}),
        ("An engineer will call you within 24 hours.", {"deadline"}),
        ("Thanks for your message, we have passed it to the team.", set()),
    ],
)
def test_commitments_by_kind(text: str, kinds: set[str]) -> None:
    result = commitments(make_draft(text), ALL)
    assert set(result.details["kinds"]) == kinds  # type: ignore[arg-type]
    assert (result.value > 0.5) is bool(kinds)


def test_commitments_not_risky_for_the_type_are_ignored() -> None:
    text = "We will refund you the full amount today."
    assert commitments(make_draft(text), ("guarantee",)).value == 0.0


def test_commitment_stated_in_the_sources_weighs_less() -> None:
    text = "You will get a full refund."
    stated = commitments(make_draft(text, sources=["Customers get a full refund."]), ALL)
    unstated = commitments(make_draft(text, sources=["Refunds are at our discretion."]), ALL)
    assert 0 < stated.value < unstated.value


def test_a_commitment_in_sources_over_the_reference_cap_counts_as_not_stated() -> None:
    text = "You will get a full refund."
    stated = "Customers get a full refund. "
    long = stated + "a " * (MAX_REFERENCE_CHARS // 2)
    read = commitments(make_draft(text, sources=[stated]), ALL)
    over = commitments(make_draft(text, sources=[long]), ALL)
    alone = commitments(make_draft(text), ALL)
    assert read.value < over.value == alone.value


@pytest.mark.parametrize(
    ("text", "hostile"),
    [
        ("As I already said, it's not that hard to read the manual.", True),
        ("Per my last email, the answer is no.", True),
        ("This is a stupid, pathetic question.", True),
        ("Sorry for the delay, the problem is fixed and your order is on its way.", False),
        ("Thank you, we appreciate your patience.", False),
    ],
)
def test_tone_flags_condescension_and_hostility_not_apology(text: str, hostile: bool) -> None:
    result = tone(make_draft(text))
    assert (result.value >= 0.35) is hostile
    assert bool(result.spans) is hostile


def test_toxicity_finds_the_offensive_sentence_in_a_long_draft(
    toxicity: ToxicityClassifier,
) -> None:
    polite = "Thank you for your order. It ships tomorrow. " * 20
    draft = make_draft(polite + "You are a fucking idiot.")
    clean = make_draft(polite)
    rude, fine = toxicity.score_batch([draft, clean])
    assert rude.value > 0.8
    assert fine.value < 0.3
    [flagged] = rude.spans
    assert "idiot" in draft.text[flagged.start : flagged.end]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi", "too_short"),
        ("Dear [Customer Name], your order has shipped.", "artefact"),
        ("As an AI language model I cannot promise that.", "artefact"),
        ("Your order shipped yesterday and will arrive on Monday. We will", "truncated"),
        ("The item is on its way to you now. " * 3, "repetition"),
        ("word " * 400, "too_long"),
    ],
)
def test_form_problems(text: str, problem: str) -> None:
    result = form(make_draft(text), FormPolicy(min_chars=10, max_chars=1000, max_lines=5))
    assert problem in result.details["problems"]  # type: ignore[operator]
    assert result.value > 0


def test_well_formed_text_has_no_form_problem() -> None:
    text = "Hi Sam,\n\nYour order shipped today and should arrive on Monday.\n\nBest,\nAlex"
    assert form(make_draft(text), FormPolicy(min_chars=10, max_chars=1000)).value == 0.0


@pytest.mark.parametrize(
    ("producer", "value", "source"),
    [
        (ProducerInfo(app="a", model="m", confidence=0.8), 0.8, "reported"),
        (
            ProducerInfo(app="a", model="m", token_logprobs=[-0.01] * 50),
            math.exp(-0.01),
            "logprobs",
        ),
        (ProducerInfo(app="a", model="m"), 0.5, "absent"),
        (ProducerInfo(app="a", model="m", token_logprobs=[]), 0.5, "absent"),
    ],
)
def test_producer_confidence(producer: ProducerInfo, value: float, source: str) -> None:
    result = producer_confidence(make_draft("Fine.", producer=producer))
    assert result.value == pytest.approx(value, rel=1e-3)
    assert result.details["source"] == source


def test_one_unsure_token_lowers_logprob_confidence() -> None:
    steady = make_draft("x", producer=ProducerInfo(app="a", model="m", token_logprobs=[-0.05] * 40))
    wobbly = make_draft(
        "x", producer=ProducerInfo(app="a", model="m", token_logprobs=[-0.05] * 39 + [-6.0])
    )
    assert producer_confidence(wobbly).value < producer_confidence(steady).value


@pytest.mark.parametrize(
    "text",
    [
        "We Will Refund you today.",
        "WE WILL REFUND you today.",
        # "İ" lowercases to two characters: the draft is matched as written, ignoring case.
        "İstanbul office: We will refund you today.",
    ],
)
def test_a_commitment_is_found_in_any_case_at_its_own_offsets(text: str) -> None:
    result = commitments(make_draft(text), {"refund"})
    [flagged] = result.spans
    assert text[flagged.start : flagged.end].lower() == "we will refund"
