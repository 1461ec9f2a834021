"""Personal data in the draft: emails, phone numbers, card numbers (Luhn), IBANs, national ids.

PII that the customer wrote themselves (it appears in the customer message) is reported with
`echoed: true` and scores lower: repeating a customer's own email back is usually fine; putting
someone else's card number in an email never is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hitl_schemas import Draft, Span
from scorer.signals.base import SignalResult, span

NAME = "pii"

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b")
# Card candidates: 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w])"
)
_US_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_UK_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)

# ISO dates and SSN-shaped numbers (even invalid ones) are not phone numbers.
_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{3}-\d{2}-\d{4}")

# IBANs and UK national insurance numbers start with two capitals and two digits: one scan
# for that decides whether their (slower) patterns run at all.
_LETTER_PAIR_DIGITS = re.compile(r"[A-Z]{2} ?\d{2}")

_IBAN_LENGTHS = {
    "AT": 20,
    "BE": 16,
    "CH": 21,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "IE": 22,
    "IT": 27,
    "LU": 20,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "SE": 24,
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    numeric = "".join(str(int(ch, 36)) for ch in moved)
    return int(numeric) % 97 == 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def find_pii(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) for each piece of personal data, cards before phones."""
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    if "@" in text:
        for m in _EMAIL.finditer(text):
            taken.append(m.span())
            yield m.start(), m.end(), "email"
    if not any(ch.isdigit() for ch in text):
        return
    has_letter_pairs = _LETTER_PAIR_DIGITS.search(text) is not None
    for m in _IBAN.finditer(text) if has_letter_pairs else ():
        if iban_ok(m.group()):
            taken.append(m.span())
            yield m.start(), m.end(), "iban"
    for m in _CARD.finditer(text):
        digits = _digits(m.group())
        if free(*m.span()) and 13 <= len(digits) <= 19 and luhn_ok(digits):
            taken.append(m.span())
            yield m.start(), m.end(), "card_number"
    national = [(_US_SSN, "national_id_us_ssn")] if "-" in text else []
    if has_letter_pairs:
        national.append((_UK_NINO, "national_id_uk_nino"))
    for pattern, kind in national:
        for m in pattern.finditer(text):
            if free(*m.span()):
                taken.append(m.span())
                yield m.start(), m.end(), kind
    for m in _PHONE.finditer(text):
        digits = _digits(m.group())
        if free(*m.span()) and 9 <= len(digits) <= 15 and _looks_like_phone(m.group()):
            taken.append(m.span())
            yield m.start(), m.end(), "phone"


def _looks_like_phone(candidate: str) -> bool:
    # Dates (2026-11-03), amounts (1,250.00) and order numbers are digit runs too: a phone
    # number has a leading + or (, or separators grouping at least three blocks.
    if candidate.startswith(("+", "(")):
        return True
    blocks = re.split(r"[ .-]", candidate)
    return len(blocks) >= 3 and not _NOT_PHONE.fullmatch(candidate)


def pii(draft: Draft) -> SignalResult:
    text = draft.text
    echoed_source = (draft.context.customer_message or "").lower()
    spans: list[Span] = []
    kinds: dict[str, int] = {}
    foreign = 0
    for start, end, kind in find_pii(text):
        echoed = bool(echoed_source) and text[start:end].lower() in echoed_source
        foreign += 0 if echoed else 1
        kinds[kind] = kinds.get(kind, 0) + 1
        spans.append(span(start, end, f"{kind}{' (from the customer message)' if echoed else ''}"))
    if not spans:
        return SignalResult(0.0)
    value = 1.0 if foreign else 0.4
    return SignalResult(value, tuple(spans), {"kinds": dict(kinds), "echoed": len(spans) - foreign})
