"""Grounding on hostile and ordinary-but-odd text (issue 15, items 3 and 4): numbers are read
without ever raising, each reference is indexed once per draft, and a draft with too many
claims is not checked claim by claim (it fails the signal, which sends it to review)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scorer.signals.grounding as g
from hitl_runtime.policy import Policy
from hitl_schemas import SourceDocument, examples
from scorer.model import Combiner
from scorer.scoring import Scorer
from scorer.signals.numbers import amount_spellings, number_key
from testkit import make_draft


@pytest.mark.parametrize(
    ("token", "key"),
    [
        ("1250", "1250"),
        ("01250", "1250"),
        ("1,250", "1250"),
        ("1,250.00", "1250"),
        ("1.250,00", "1250"),
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1.234.567,89", "1234567.89"),
        ("1,250,000", "1250000"),
        ("1.250.000", "1250000"),
        ("5,000", "5000"),
        ("4.99", "4.99"),
        ("1.5", "1.5"),
        ("12,5", "12.5"),
        ("1.250", "1.25"),  # one dot is a decimal mark
        ("0.50", "0.5"),
        ("03.11.2026", "03.11.2026"),  # a dotted date is not a quantity: compared as written
        ("10.0.0.1", "10.0.0.1"),  # an IP
        ("2.3.1", "2.3.1"),  # a version
        ("12,34.5", "12,34.5"),  # grouping that is not thousands
        ("1250.", "1250"),  # a sentence's full stop
        ("7" * 4_301, "7" * 4_301),  # past Python's int-str conversion limit
        ("9" * 50_000 + ".5", "9" * 50_000 + ".5"),
        ("", ""),
        ("1..2", "1..2"),
    ],
)
def test_number_keys(token: str, key: str) -> None:
    assert number_key(token) == key


@given(
    st.integers(min_value=0, max_value=10**30),
    st.one_of(st.just(""), st.from_regex(r"\A[0-9]{0,3}[1-9]\Z")),
)
def test_every_spelling_of_a_key_reads_back_as_that_key(whole: int, fraction: str) -> None:
    key = f"{whole}.{fraction}" if fraction else str(whole)
    spellings = amount_spellings(key)
    assert key in spellings
    assert {number_key(s) for s in spellings} == {key}


@given(st.text(alphabet='0123456789.,$€§#% -:"“”dayNovsection()\n', max_size=400))
def test_grounding_never_raises_on_any_text_but_too_many_claims(text: str) -> None:
    sources = [text[::-1], "Updated 03.11.2026, v2.3.1 on 10.0.0.1, " + "9" * 5_000]
    try:
        g.grounding(make_draft(text or "x", sources=sources))
    except g.TooManyClaims:
        pass


def test_an_invented_voucher_next_to_a_dotted_date_is_flagged_and_not_auto_approvable(
    scorer: Scorer, model: Combiner, policy: Policy
) -> None:
    # Issue 15: "03.11.2026" in a source made float() raise, grounding failed, and the invented
    # "$5,000 voucher" went from 0.669 (review) to 0.963 (auto-approved).
    base = examples.draft()
    terms = SourceDocument(source_id="terms", text="Terms updated 03.11.2026 (v2.3.1, 10.0.0.1).")
    context = base.context.model_copy(update={"sources": [*base.context.sources, terms]})
    text = base.text + " As an apology we are adding a $5,000 voucher to your account."
    for content_type, ct in policy.content_types.items():
        draft = base.model_copy(
            update={"content_type": content_type, "context": context, "text": text}
        )
        score = scorer.score(draft, model)
        grounding = {s.name: s for s in score.signals}["grounding"]
        assert not grounding.failed, grounding.error
        assert [text[s.start : s.end] for s in grounding.spans] == ["$5,000"]
        assert score.confidence < ct.default_threshold, content_type


@pytest.mark.parametrize(
    ("source", "claim", "supported"),
    [
        ("4.2 Items", "section 4.2", True),
        ("see 4.2.1 below", "section 4.2", True),
        ("see 4.2.1 below", "section 4", True),
        ("rate 14.25 applies", "section 4.2", False),
        ("rate 4.25 applies", "section 4.2", False),
        ("shipped November 3rd", "on 3 Nov", True),
        ("shipped 2026-11-03", "on 3 November", True),
        ("shipped 3rd of Nov.", "on November 3", True),
        ("to our dismay 3 left", "on May 3", False),
        ("within 30 business days", "in 30 days", True),
        ("within 30 business days", "in 31 days", False),
        ("total 1.250,00 EUR", "$1,250", True),
        ("total 1.250 EUR", "$1,250", False),
        ("release 2.3.1", "2.3.1%", True),
        ("on 03.11.2026", "$3.11", False),
    ],
)
def test_claims_are_looked_up_like_the_old_patterns(
    source: str, claim: str, supported: bool
) -> None:
    result = g.grounding(make_draft(f"It is {claim} as agreed.", sources=[source]))
    assert (result.details["unsupported"] == 0) is supported, result.spans


@pytest.mark.parametrize(
    "text",
    [
        "§1" * 24_998,  # issue 15: 127 s of CPU against a 399K source
        " ".join(f"section {i % 60}.{i % 97}" for i in range(3_900))[:50_000],  # 34 s
        ("$1 " * 17_000)[:50_000],
        "1 " * 20_000,  # numbers that are no claim at all
        '"' + '" "'.join("a b c d e f g h" for _ in range(100)) + '"',
    ],
)
def test_too_many_claims_fails_the_signal_after_bounded_work(
    text: str, scorer: Scorer, model: Combiner, monkeypatch: pytest.MonkeyPatch
) -> None:
    classified = 0
    classify = g._classify

    def counting(*args: Any) -> list[g.Claim]:
        nonlocal classified
        classified += 1
        return classify(*args)

    monkeypatch.setattr(g, "_classify", counting)
    draft = make_draft(text, sources=["4.2 " + "x" * 399_000])
    grounding = {s.name: s for s in scorer.score(draft, model).signals}["grounding"]
    assert grounding.failed
    assert grounding.error is not None and grounding.error.startswith("TooManyClaims: more than")
    assert classified <= g.MAX_NUMBERS


class _CountingPattern:
    """A compiled pattern that counts the scans of long texts (the reference, not the claims)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern, self.long_scans = pattern, 0

    def findall(self, text: str) -> list[Any]:
        self.long_scans += len(text) > 10_000
        return self.pattern.findall(text)


def _count_scans(monkeypatch: pytest.MonkeyPatch) -> dict[str, _CountingPattern]:
    """Every pattern that reads a whole text of the reference, counting its long scans."""
    counting: dict[str, _CountingPattern] = {"iso": _CountingPattern(g._ISO_DATE)}
    monkeypatch.setattr(g, "_ISO_DATE", counting["iso"])
    for table in ("_COUNT_BEFORE", "_DAY_BEFORE"):
        wrapped = {}
        for key, patterns in getattr(g, table).items():
            wrapped[key] = tuple(_CountingPattern(p) for p in patterns)
            counting.update({f"{table}[{key}]/{i}": c for i, c in enumerate(wrapped[key])})
        monkeypatch.setattr(g, table, wrapped)
    after = {m: _CountingPattern(p) for m, p in g._DAY_AFTER.items()}
    counting.update({f"_DAY_AFTER[{m}]": c for m, c in after.items()})
    monkeypatch.setattr(g, "_DAY_AFTER", after)
    g._indexed.cache_clear()
    return counting


def test_the_reference_is_scanned_once_per_index_whatever_the_number_of_claims(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scans = _count_scans(monkeypatch)
    pieces = [
        f"${i},000 | section {i}.{i} | {i % 28 + 1} March | within {i} days | {i}% | #{1000 + i}"
        for i in range(20)
    ]
    text = " ; ".join(pieces) + ' and "the quick brown fox" and "jumps over the lazy dog".'
    source = "Terms: " + " ".join(f"{i}.{i % 7}.1 rule" for i in range(5_000))
    result = g.grounding(make_draft(text, sources=[source]))
    assert result.details["claims"] == 20 * 6 + 2
    # 20 March dates and 20 durations in days: each pattern they need reads the source once.
    assert {name for name, c in scans.items() if c.long_scans} == {
        "iso",
        "_DAY_BEFORE[3]/0",
        "_DAY_BEFORE[3]/1",
        "_DAY_AFTER[3]",
        "_COUNT_BEFORE[day]/0",
        "_COUNT_BEFORE[day]/1",
    }
    assert {c.long_scans for c in scans.values()} <= {0, 1}


def test_a_text_shared_by_drafts_is_indexed_once_whatever_each_customer_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scans = _count_scans(monkeypatch)
    policy = "Returns: " + " ".join(f"within {i} days for item {i}" for i in range(3_000))
    for n in range(5):
        draft = make_draft("You can return it within 14 days.", sources=[policy], customer=f"#{n}")
        assert g.grounding(draft).details["unsupported"] == 0
    # Five drafts, one read of the policy by each pattern the claim needs ("day", "days").
    assert {name: c.long_scans for name, c in scans.items() if c.long_scans} == {
        "_COUNT_BEFORE[day]/0": 1,
        "_COUNT_BEFORE[day]/1": 1,
    }


@given(st.text(alphabet="0123456789.,;: a-$\n", max_size=400))
def test_the_byte_scan_finds_the_numbers_the_claim_pattern_finds(text: str) -> None:
    assert g._Indexed(text).numbers == frozenset(g._NUMBER.findall(text))


@pytest.mark.parametrize(
    ("reference", "claim"),
    [
        ("Returns within 14 days.", "within 14 days"),
        ("Returns within 14\nbusiness days.", "within 14 business days"),
        ("Returns: 14-day window.", "within 14 days"),
        ("Delivered 3rd of November.", "on 3 November"),
        ("Delivered 03 Nov 2026.", "on November 3rd"),
        ("Delivered Nov. 3, 2026.", "on 3 Nov"),
        ("Delivered 2026-11-03.", "on 3 November"),
        ("Delivered November 3rd.", "on 2026-11-03"),
    ],
)
def test_dates_and_durations_are_found_in_every_usual_form(reference: str, claim: str) -> None:
    result = g.grounding(make_draft(f"It was {claim}.", sources=[reference]))
    assert result.details == {"claims": 1, "unsupported": 0, "unsupported_kinds": {}}


@pytest.mark.parametrize(
    ("reference", "claim"),
    [
        ("Returns within 140 days.", "within 14 days"),
        ("Returns within 14 weeks.", "within 14 days"),
        ("Delivered 13 November.", "on 3 November"),
        ("Delivered snov 3.", "on 3 November"),
        ("Delivered 2026-11-30.", "on 3 November"),
        ("Delivered 26-11-03.", "on 2026-11-03"),  # a two-digit year is not an ISO date
    ],
)
def test_a_near_miss_does_not_support_a_date_or_duration(reference: str, claim: str) -> None:
    assert g.grounding(make_draft(f"It was {claim}.", sources=[reference])).details["unsupported"]


def test_a_reference_over_the_cap_is_reviewed_without_being_read(
    scorer: Scorer, model: Combiner, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = _count_scans(monkeypatch)
    policy = "Returns within 14 days. " + "a " * (g.MAX_REFERENCE_CHARS // 2)
    draft = make_draft("You can return it within 14 days.", sources=[policy])
    grounding = {s.name: s for s in scorer.score(draft, model).signals}["grounding"]
    assert grounding.failed
    assert grounding.error is not None and "over 200,000; review the draft" in grounding.error
    assert not any(c.long_scans for c in scans.values())


def test_a_reference_under_the_cap_is_checked_and_a_repeated_source_counts_once() -> None:
    policy = "Returns within 14 days. " + "a " * (g.MAX_REFERENCE_CHARS // 2 - 100)
    draft = make_draft("You can return it within 14 days.", sources=[policy, policy])
    assert g.grounding(draft).details == {"claims": 1, "unsupported": 0, "unsupported_kinds": {}}


def test_a_draft_without_claims_is_not_held_by_the_cap() -> None:
    draft = make_draft("Thank you for writing.", sources=["a " * (g.MAX_REFERENCE_CHARS // 2 + 10)])
    assert g.grounding(draft).details == {"claims": 0, "unsupported": 0}
