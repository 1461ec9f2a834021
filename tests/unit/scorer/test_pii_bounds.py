"""PII's work and output are bounded (issue 15 item 3): a hostile draft of thousands of numbers,
addresses or bidi controls is checked up to a budget and flagged for review, and builds at most
MAX_SPANS spans, the rest counted."""

from __future__ import annotations

import pytest

from scorer.model import Combiner
from scorer.scoring import Scorer
from scorer.signals.pii import (
    MAX_CANDIDATES,
    MAX_EMAIL_ANCHORS,
    MAX_SPANS,
    _mod97_ok,
    iban_ok,
    pii,
)
from testkit import make_draft


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # Distinct order-number-like runs: each is a candidate, and there are more than checked.
        (" ".join(f"ref {1_000_000 + 7919 * i}" for i in range(MAX_CANDIDATES + 50)), "numbers"),
        (" ".join(f"user{i}@example.com" for i in range(MAX_CANDIDATES + 50)), "e-mails"),
        ("@" * (MAX_EMAIL_ANCHORS + 1), "at signs"),
        ("meet me at " * (MAX_EMAIL_ANCHORS + 1), "written-out at"),
    ],
)
def test_past_the_budget_the_draft_is_reported_as_more_than_checked(text: str, why: str) -> None:
    result = pii(make_draft(text[:50_000]))
    assert result.details.get("more_than_checked") is True, why
    assert result.value == 1.0


@pytest.mark.parametrize(
    "text",
    [
        " ".join(f"ref {1_000_000 + 7919 * i}" for i in range(MAX_CANDIDATES // 2)),
        "Write to " + ", ".join(f"user{i}@example.com" for i in range(40)),
        "We met at the office at noon. " * 300,
    ],
)
def test_under_the_budget_everything_is_checked(text: str) -> None:
    result = pii(make_draft(text))
    assert "more_than_checked" not in result.details


def test_spans_are_the_first_by_position_and_the_rest_are_counted() -> None:
    bidi = "\u202e"
    text = "Write to jane@example.com. " + ("a" + bidi) * (MAX_SPANS + 500)
    result = pii(make_draft(text))
    assert len(result.spans) == MAX_SPANS
    assert result.spans_left_out == 501  # the e-mail and 1,500 controls, less those built
    assert result.spans[0].label == "email"
    starts = [s.start for s in result.spans]
    assert starts == sorted(starts)
    assert result.details["bidi_controls"] == MAX_SPANS + 500


def test_the_scored_draft_counts_spans_the_signal_left_out(scorer: Scorer, model: Combiner) -> None:
    text = ("a\u202e" * (MAX_SPANS + 10))[:50_000]
    signals = {s.name: s for s in scorer.score(make_draft(text), model).signals}
    assert len(signals["pii"].spans) + signals["pii"].spans_omitted == MAX_SPANS + 10


@pytest.mark.parametrize(
    ("iban", "ok"),
    [
        ("GB82WEST12345698765432", True),
        ("DE89370400440532013000", True),
        ("FR1420041010050500013M02606", True),
        ("DE89370400440532013001", False),
        ("GB82WEST12345698765431", False),
        ("GB28WEST12345698765432", False),
    ],
)
def test_the_quick_checksum_agrees_with_stdnum(iban: str, ok: bool) -> None:
    assert _mod97_ok(iban) is ok
    assert iban_ok(iban) is ok
