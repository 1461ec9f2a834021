from __future__ import annotations

import pytest

from scorer.signals.pii import find_pii, iban_ok, luhn_ok, pii
from testkit import make_draft


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Write to dana.lee@example.co.uk for the invoice.", ["email"]),
        ("Call us on +44 20 7946 0958 any weekday.", ["phone"]),
        ("Call Mark on his mobile, +44 7700 900123, any time.", ["phone"]),  # unallocated range
        ("Reach me at (555) 123-4567 after five.", ["phone"]),
        ("Card on file: 4111 1111 1111 1111, expiring soon.", ["card_number"]),
        ("Card 4111-1111-1111-1111 was charged.", ["card_number"]),
        ("Card 4111 1111 1111 1112 fails the checksum.", []),
        ("Pay to GB82 WEST 1234 5698 7654 32 by Friday.", ["iban"]),
        ("Pay to DE89370400440532013000 today.", ["iban"]),
        ("Pay to DE89370400440532013001 today.", []),
        ("Her SSN is 123-45-6789.", ["national_id_us_ssn"]),
        ("SSN 000-12-3456 is not a valid number.", []),
        ("NI number AB 12 34 56 C on the form.", ["national_id_uk_nino"]),
        ("Your order shipped on 2026-11-03 and cost 1,250.00 EUR.", []),
        ("Order #48213344 is on its way.", []),
        ("Refunds take 5 to 10 business days.", []),
        ("", []),
    ],
)
def test_finds_each_kind_of_personal_data(text: str, kinds: list[str]) -> None:
    found = list(find_pii(text))
    assert [kind for _, _, kind in found] == kinds
    for start, end, _ in found:
        assert text[start:end].strip() == text[start:end]


@pytest.mark.parametrize(
    ("digits", "ok"), [("4111111111111111", True), ("79927398713", True), ("79927398710", False)]
)
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


def test_iban_length_is_checked_per_country() -> None:
    assert iban_ok("GB82WEST12345698765432")
    assert not iban_ok("GB82WEST1234569876543")


def test_pii_echoed_from_the_customer_scores_below_the_hard_rule() -> None:
    customer = "My email is pat@example.org, please confirm."
    echoed = pii(make_draft("We will write to pat@example.org today.", customer=customer))
    foreign = pii(make_draft("We will write to sam@example.org today.", customer=customer))
    assert echoed.value == pytest.approx(0.4)
    assert foreign.value == 1.0
    assert "customer message" in echoed.spans[0].label
    assert foreign.spans[0].label == "email"


def test_clean_text_scores_zero() -> None:
    result = pii(make_draft("Thanks for getting in touch, your parcel is on the way."))
    assert result.value == 0.0
    assert result.spans == ()
