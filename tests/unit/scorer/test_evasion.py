"""Issue 15 item 5 (evasion) and the PII part of item 3 (CPU): PII and toxicity read the
normalised text, spans still point at the original characters, and the work is bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unit.scorer.evasion_corpus import CLEAN, PII_CAUGHT, TOXIC_CAUGHT

from scorer.signals.normalize import normalize, unmask
from scorer.signals.pii import MAX_LIBRARY_CHECKS, MAX_PHONE_CHECKS, find_pii, pii
from scorer.signals.toxicity import ToxicityClassifier, tone
from testkit import make_draft


@pytest.mark.parametrize(("text", "kind", "spanned"), PII_CAUGHT)
def test_each_written_form_of_personal_data_is_caught_on_its_original_characters(
    text: str, kind: str, spanned: str
) -> None:
    result = pii(make_draft(text))
    assert result.value == 1.0
    label = "bidi control" if kind == "bidi_control" else kind
    assert spanned in [text[s.start : s.end] for s in result.spans if s.label.startswith(label)]


@pytest.mark.parametrize(("text", "word"), TOXIC_CAUGHT)
def test_each_spelling_of_an_offensive_word_is_caught(
    toxicity: ToxicityClassifier, text: str, word: str
) -> None:
    [result] = toxicity.score_batch([make_draft(text)])
    assert result.value >= 0.5
    assert any(word in text[s.start : s.end] for s in result.spans)


@pytest.mark.parametrize("text", CLEAN)
def test_clean_look_alikes_are_not_flagged(toxicity: ToxicityClassifier, text: str) -> None:
    draft = make_draft(text)
    assert pii(draft).value == 0.0, [text[s.start : s.end] for s in pii(draft).spans]
    assert toxicity.score(draft).value < 0.5
    assert tone(draft).value < 0.35


@pytest.mark.parametrize(
    ("text", "normalised", "piece", "original"),
    [
        ("ab\u200bcd", "abcd", "bc", "b\u200bc"),
        ("x ４１１ y", "x 411 y", "411", "４１１"),
        ("so s h i t ok", "so shit ok", "shit", "s h i t"),
        ("\ufb01ne", "fine", "ine", "\ufb01ne"),  # a ligature: the span widens to the whole of it
        ("f\u0336u\u0336 then ok", "fu then ok", "then", "then"),
        ("zw\u200b s.h.i.t\u200b!", "zw shit!", "shit", "s.h.i.t"),
    ],
)
def test_offsets_map_back_to_the_original_text(
    text: str, normalised: str, piece: str, original: str
) -> None:
    normalized = normalize(text)
    assert normalized.text == normalised
    at = normalised.index(piece)
    start, end = normalized.source_span(at, at + len(piece))
    assert text[start:end] == original


def test_leetspeak_is_read_only_where_it_spells_a_flagged_word(
    toxicity: ToxicityClassifier,
) -> None:
    words = toxicity.offensive_words
    assert unmask("sh1t and f**k", words) == "shit and fuck"
    assert unmask("Galaxy A55 at 4pm, 1st floor, B2B", words) == "Galaxy A55 at 4pm, 1st floor, B2B"


def test_bidi_controls_are_their_own_finding_and_send_the_draft_to_review() -> None:
    text = "Your refund of \u202e00.5$\u202c is approved."
    result = pii(make_draft(text))
    assert result.value == 1.0
    assert result.details["bidi_controls"] == 2
    assert [text[s.start : s.end] for s in result.spans] == ["\u202e", "\u202c"]


def test_pii_echoed_in_another_format_is_still_the_customers_own() -> None:
    customer = "My card is 4111-1111-1111-1111 and my email JANE@EXAMPLE.COM."
    text = "We charged 4111 1111 1111 1111 and wrote to jane [at] example [dot] com."
    result = pii(make_draft(text, customer=customer))
    assert result.value == pytest.approx(0.4)
    assert result.details["echoed"] == 2


def test_thousands_of_ssns_are_flagged_with_bounded_work() -> None:
    # 4,166 distinct SSNs took 6.9 s (the issue measured 8.6 s): free() compared each hit with
    # every earlier one. Now each value is validated once, at most MAX_LIBRARY_CHECKS in all.
    text = " ".join(f"{100 + i % 600:03d}-{10 + i % 89:02d}-{1000 + i:04d}" for i in range(4166))
    result = pii(make_draft(text, customer=text[:20_000]))
    assert result.value == 1.0
    assert result.details["more_than_checked"] is True
    kinds = result.details["kinds"]
    assert isinstance(kinds, dict)
    assert 0 < sum(v for v in kinds.values() if isinstance(v, int)) <= MAX_LIBRARY_CHECKS
    assert all(text[s.start : s.end].count("-") == 2 for s in result.spans)


def test_hundreds_of_international_numbers_are_flagged_after_a_few_costly_checks() -> None:
    # phonenumbers takes ~0.4 ms a number: 100 of them were 40 ms of one draft's budget.
    text = " ".join(f"+44 20 7946 {i:04d}" for i in range(400))
    result = pii(make_draft(text))
    assert result.value == 1.0
    assert result.details["more_than_checked"] is True
    kinds = result.details["kinds"]
    assert isinstance(kinds, dict) and 0 < kinds.get("phone", 0) <= MAX_PHONE_CHECKS


def test_find_pii_offsets_are_into_the_text_given() -> None:
    text = "Card ٤١١١ ١١١١ ١١١١ ١١١١, mail a\u200bb@example.com"
    assert [(text[s:e], kind) for s, e, kind in find_pii(text)] == [
        ("٤١١١ ١١١١ ١١١١ ١١١١", "card_number"),
        ("a\u200bb@example.com", "email"),
    ]


def test_vectorised_probabilities_equal_sklearns(toxicity: ToxicityClassifier) -> None:
    sentences = [
        "Thank you for your order.",
        "You are a fucking idiot.",
        "shit shit happens, the the the",
        "",
        "Refunds take 5 to 10 business days, sorry for the delay!",
    ]
    ours = toxicity.probabilities(sentences)
    assert list(ours) == pytest.approx(toxicity.reference_probabilities(sentences), abs=1e-9)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("sh1t", "shit"),
        ("SH1T", "shit"),
        ("sh1t!!", "shit!!"),
        ("f**k off", "fuck off"),
        ("a55", "a55"),  # one letter: not read as a word
        ("4pm and b2b", "4pm and b2b"),
        ("jane.doe42@example.com", "jane.doe42@example.com"),
        ("sh1tty c0de", "shitty c0de"),  # "code" is no insult
        ("", ""),
    ],
)
def test_unmask_reads_masked_spellings_letter_for_letter(
    toxicity: ToxicityClassifier, text: str, read: str
) -> None:
    assert unmask(text, toxicity.offensive_words) == read
    assert len(unmask(text, toxicity.offensive_words)) == len(text)


@given(st.text(alphabet="ab1$@!|* .\n_-é", max_size=300))
def test_the_obfuscated_words_are_the_runs_the_word_pattern_finds(text: str) -> None:
    from scorer.signals import normalize as n

    assert n._obfuscated_words(text) == frozenset(n._OBFUSCATED_WORD.findall(text))
