"""Toxicity read in context: a sign-off or a name does not fire, an insult still does, and the
extra work is bounded (the scorer issue "a confidence that holds on real text")."""

from __future__ import annotations

import numpy as np
import pytest

from hitl_schemas import Draft
from scorer.signals.text import sentences
from scorer.signals.toxicity import (
    CLEARLY_TOXIC,
    MAX_CONTEXT_RUNS,
    ToxicityClassifier,
    context_run,
    sentences_to_read_in_context,
)
from testkit import make_draft

BODY = (
    "Hi Jordan,\n\nThanks for sending the jacket back. Our warehouse received it on 4 November "
    "and we issued your refund of £59.99 on 6 November, to the card you paid with.\n\n"
    "Depending on your bank, it can take a few working days to show on your statement.\n\n"
)


def _unvalidated(text: str) -> Draft:
    # Over the default text limit on purpose: built without validation.
    return make_draft("x").model_copy(update={"text": text})


@pytest.mark.parametrize(
    "sign_off",
    [
        "Best regards,\nSam\nOutfitters Customer Care",
        "Kind regards,\nMarta\nOutfitters Customer Care",
        "Cheers,\nNiamh\nCustomer Care Team",
        "Warm regards,\nDaniel Reyes\nBilling Support, Outfitters",
        "Enjoy,\nMia\nProduct Advice Team",
    ],
)
def test_a_sign_off_with_a_name_and_a_team_scores_low(
    toxicity: ToxicityClassifier, sign_off: str
) -> None:
    # In an e-mail, not alone: five words are all the model has of a bare sign-off, and it
    # reads noise there ("Kind regards, Marta, Outfitters Customer Care" alone is 0.22).
    [in_email] = toxicity.score_batch([make_draft(BODY + sign_off)])
    assert in_email.value < 0.05
    assert not in_email.spans


@pytest.mark.parametrize(
    ("rude", "word"),
    [
        ("You moron.", "moron"),
        ("It's right there in your tracking, you moron.", "moron"),
        ("Stop whining like an idiot.", "idiot"),
        ("That's your damn problem, not ours.", "damn"),
    ],
)
def test_a_rude_line_among_forty_clean_short_lines_scores_high(
    toxicity: ToxicityClassifier, rude: str, word: str
) -> None:
    clean = [f"Item {i} ships tomorrow." for i in range(20)] + ["Thanks,", "Sam"] * 10
    text = "\n".join(clean[:20] + [rude] + clean[20:])
    [result] = toxicity.score_batch([make_draft(text)])
    assert result.value > 0.9
    [flagged] = result.spans
    assert word in text[flagged.start : flagged.end]


def test_context_only_lowers_and_never_a_clearly_toxic_sentence(
    toxicity: ToxicityClassifier,
) -> None:
    text = BODY + "Honestly, you moron.\n\nBest regards,\nSam\nOutfitters Customer Care"
    pieces = [text[s:e] for s, e in sentences(text)]
    alone = toxicity.probabilities(pieces)
    [result] = toxicity.score_batch([make_draft(text)])
    assert alone.max() >= CLEARLY_TOXIC
    assert result.value == pytest.approx(alone.max())
    assert result.details["lowered_by_context"] >= 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your refund of £59.99 is on its way.", ["Your refund of £59.99 is on its way."]),
        ("See section 4.2. It covers refunds.", ["See section 4.2.", "It covers refunds."]),
        ("Version 2.3.1 is out", ["Version 2.3.1 is out"]),
        ("It costs 5. 99 left.", ["It costs 5.", "99 left."]),
        ("Done.Next", ["Done.", "Next"]),
        ("Best regards,\nSam\nCare Team", ["Best regards,", "Sam", "Care Team"]),
    ],
)
def test_sentences_do_not_split_a_decimal_point(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in sentences(text)] == expected


def _spans(lengths: list[int]) -> list[tuple[int, int]]:
    out, at = [], 0
    for n in lengths:
        out.append((at, at + n))
        at += n + 1
    return out


@pytest.mark.parametrize(
    ("counts", "chars", "i", "words", "max_chars", "expected"),
    [
        ([1, 1, 1], [5, 5, 5], 1, 40, 2000, (0, 2)),  # short text: the whole of it
        ([50, 2, 50], [300, 10, 300], 1, 40, 2000, (1, 2)),  # the next one first
        ([50, 2, 50], [300, 10, 300], 0, 40, 2000, (0, 0)),  # enough words alone
        ([5, 5, 5, 5, 5], [30] * 5, 0, 12, 2000, (0, 2)),  # only forward at the start
        ([1, 1, 1], [5, 5000, 5], 0, 40, 2000, (0, 0)),  # a long neighbour is not added
        ([0] * 200, [1] * 200, 100, 40, 2000, (60, 140)),  # at most `words` steps
    ],
)
def test_context_run(
    counts: list[int],
    chars: list[int],
    i: int,
    words: int,
    max_chars: int,
    expected: tuple[int, int],
) -> None:
    assert context_run(counts, _spans(chars), i, words, max_chars) == expected


@pytest.mark.parametrize(
    ("alone", "counts", "limit", "expected"),
    [
        ([0.1, 0.9, 0.3], [2, 2, 2], 10, [0, 2]),  # clearly toxic keeps its score: no run
        ([0.1, 0.5, 0.3, 0.2], [1, 1, 1, 1], 2, [1, 2]),  # the highest within the limit
        ([0.3, 0.6, 0.2], [2, 10, 5], 10, [0, 2]),  # a full sentence is judged alone
        ([], [], 5, []),
    ],
)
def test_sentences_to_read_in_context(
    alone: list[float], counts: list[int], limit: int, expected: list[int]
) -> None:
    got = sentences_to_read_in_context(np.asarray(alone, dtype=np.float64), counts, limit)
    assert got == expected


POLITE_AROUND = (
    "Hello Maria,\nThank you for contacting us about your order 4471. We have checked the "
    "tracking details with the carrier this morning. {line} Your parcel is expected to arrive on "
    "Thursday between 9am and 5pm. If anything else comes up, just reply to this email.\n"
    "Best regards,\nSam\nOutfitters Customer Care"
)


def test_a_rude_sentence_without_a_swear_word_is_not_diluted_by_polite_ones(
    toxicity: ToxicityClassifier,
) -> None:
    """A hostile writer's trick: one condescending line in a polite email. Read with its
    neighbours it scored 0.16 (unflagged); a full sentence is now judged on its own."""
    line = "This is the dumbest question we have had all week."
    [alone] = toxicity.score_batch([_unvalidated(line)])
    [inside, clean] = toxicity.score_batch(
        [_unvalidated(POLITE_AROUND.format(line=line)), _unvalidated(POLITE_AROUND.format(line=""))]
    )
    assert inside.value == pytest.approx(alone.value, abs=0.02)
    assert inside.value >= 0.5 and inside.details["flagged"] == 1
    assert clean.value < 0.1  # and the sign-off around it still reads as clean


def test_a_one_megabyte_draft_scores_a_bounded_number_of_runs(
    toxicity: ToxicityClassifier,
) -> None:
    polite = "Thanks for your order, it is packed and ships on 3 November for 12.50 EUR.\n"
    half = polite * (500_000 // len(polite))
    [result] = toxicity.score_batch([_unvalidated(half + "You are a moron.\n" + half)])
    assert result.details["sentences"] > 10_000
    assert result.details["read_in_context"] <= MAX_CONTEXT_RUNS
    assert result.value > 0.9
