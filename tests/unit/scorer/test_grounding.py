from __future__ import annotations

import pytest

from hitl_schemas import DraftContext, SourceDocument, examples
from scorer.signals.grounding import _Indexed, claims, grounding
from testkit import make_draft

POLICY = (
    "4.2 Items may be returned within 30 days of delivery for a full refund. "
    "4.3 Shipping fees of $4.99 are not refunded. Late fees are 1.5% per month."
)
ORDER = "Order 4821 shipped 3 November 2026. Total: 1,250.00 EUR."


@pytest.mark.parametrize(
    ("text", "unsupported"),
    [
        ("Under section 4.2 you can return it within 30 days.", []),
        ("Under section 7.1 you can return it within 30 days.", ["section 7.1"]),
        ("Under section 4.2 you can return it within 60 days.", ["60 days"]),
        ("Shipping fees of $4.99 are not refunded.", []),
        ("Shipping fees of $5.99 are not refunded.", ["$5.99"]),
        ("Your total was 1250 EUR.", []),
        ("Your total was EUR 1,350.00.", ["EUR 1,350.00"]),
        ("Late fees are 1.5% per month.", []),
        ("Late fees are 2% per month.", ["2%"]),
        ("It shipped on November 3rd.", []),
        ("It shipped on 3 Nov.", []),
        ("It shipped on 2026-11-03.", []),
        ("It shipped on 5 November.", ["5 November"]),
        ("Order #4821 is on its way.", []),
        ("Order #9999 is on its way.", ["#9999"]),
        ('The policy says "items may be returned within 30 days of delivery".', []),
        (
            'The policy says "items may be returned at any time for any reason".',
            ['"items may be returned at any time for any reason"'],
        ),
        ("Thanks for your patience, we are looking into it.", []),
    ],
)
def test_unsupported_claims_are_flagged_with_their_spans(text: str, unsupported: list[str]) -> None:
    result = grounding(make_draft(text, sources=[POLICY, ORDER]))
    assert [text[s.start : s.end] for s in result.spans] == unsupported
    assert (result.value > 0) is bool(unsupported)


def test_a_misquoted_clause_outweighs_a_small_slip() -> None:
    misquote = grounding(make_draft("Per clause 9.9, refunds are never given.", sources=[POLICY]))
    date_slip = grounding(make_draft("It shipped on 4 November.", sources=[ORDER]))
    assert misquote.value > date_slip.value > 0


def test_claims_without_any_material_are_unverifiable_not_wrong() -> None:
    draft = make_draft("Your refund of $20 arrives in 5 days.", sources=[])
    draft = draft.model_copy(update={"context": draft.context.model_copy(update={"prompt": ""})})
    result = grounding(draft)
    assert result.details["unverifiable"] is True
    assert 0 < result.value < 0.5


def test_claim_extraction_normalises() -> None:
    keys = {(c.kind, c.key) for c in claims("Pay $1,250.00 by 3rd of March, clause 4.2(b), 15 %.")}
    assert ("amount", "1250") in keys
    assert ("date", "3-3") in keys
    assert ("clause", "4.2(b)") in keys
    assert ("percent", "15") in keys


@pytest.mark.parametrize(
    ("reference", "month", "days"),
    [
        ("Delivery by November 3rd.", 11, {"3"}),
        ("(Nov. 03) and\nDec 24", 11, {"3"}),
        ("(Nov. 03) and\nDec 24", 12, {"24"}),
        ("snov 3, monday 4, decent 5", 11, set()),  # a month inside a word is not a date
        ("snov 3, monday 4, decent 5", 12, set()),
        ("Sept 9 and september 10 and sep 11", 9, {"9", "10", "11"}),
        ("mar 123", 3, set()),  # nor a day of three digits
        # Words are ASCII letters and digits, as for quotes: other characters separate them.
        ("éjan 3 and _feb 4", 1, {"3"}),
    ],
)
def test_month_first_dates_in_the_reference_start_at_a_word(
    reference: str, month: int, days: set[str]
) -> None:
    assert _Indexed(reference).days_after(month) == days


def test_a_claim_is_supported_by_any_one_text_of_the_reference() -> None:
    draft = make_draft(
        "Refund of $59.99 by 3 November, as section 4.2 says, within 14 days.",
        sources=["Section 4.2.1: refunds within 14 days.", "Order total: $59.99."],
        customer="I was told November 3rd.",
    )
    result = grounding(draft)
    assert result.details["claims"] == 4
    assert result.details["unsupported"] == 0


def test_a_flagged_figure_says_what_the_sources_state() -> None:
    """A reviewer fixes a wrong amount or date in one look: the label quotes the source."""
    order = SourceDocument(
        source_id="order-58213",
        title="Order record",
        text="Order 58213: paid £59.99. Refund issued 6 November: £59.99 to the original card.",
    )
    draft = examples.draft(
        text="We issued your refund of £64.50 on 7 November under clause 9.1.",
        context=DraftContext(sources=[order]),
    )
    labels = [s.label for s in grounding(draft).spans]
    assert labels == [
        "£64.50 not in the sources; the sources say Order record: £59.99",
        "7 November not in the sources; the sources say Order record: 6 November",
        "clause 9.1 not in the sources",  # the sources hold no clause to quote
    ]
