"""Grounding: facts in the draft that the draft's own material does not support.

Claims are amounts, percentages, durations, dates, clause references, order-style ids and
quoted passages. Each is looked up in the reference text (sources, customer message, prompt)
after normalisation (1,250.00 = 1250; 3 Nov = November 3rd = 2026-11-03; "section 4.2" needs a
4.2 in the sources; a quote must appear word for word, ignoring case and punctuation).
Unsupported claims are flagged with what was not found: the misquoted clause, the wrong amount.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hitl_schemas import Draft, Span
from scorer.signals.base import SignalResult, saturate, span

NAME = "grounding"

_MONTHS = {
    name: index
    for index, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"

_AMOUNT = re.compile(
    rf"(?:[$€£]|\b(?:USD|EUR|GBP)\s?)\s?({_NUM})|\b({_NUM})\s?(?:USD|EUR|GBP|dollars?|euros?|pounds?)\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(rf"\b({_NUM})\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_DURATION = re.compile(
    r"\b(\d+)\s?(?:business |working |calendar )?(hour|day|week|month|year)s?\b", re.IGNORECASE
)
_DATE_DM = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? {_MONTH}\b(?:,? (\d{{4}}))?", re.IGNORECASE
)
_DATE_MD = re.compile(
    rf"\b{_MONTH}\.? (\d{{1,2}})(?:st|nd|rd|th)?\b(?:,? (\d{{4}}))?", re.IGNORECASE
)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_CLAUSE = re.compile(
    r"\b(?:section|clause|article|paragraph|para\.|§)\s?(\d+(?:\.\d+)*(?:\s?\([a-z0-9]{1,3}\))?)",
    re.IGNORECASE,
)
_ID = re.compile(r"#\s?(\d{3,})\b")
_QUOTE = re.compile(r"[\"“]([^\"”]{12,600})[\"”]")
_NON_WORD = re.compile(r"[^a-z0-9]+")

WEIGHTS = {
    "quote": 1.0,
    "clause": 1.0,
    "amount": 0.9,
    "percent": 0.8,
    "date": 0.6,
    "duration": 0.6,
    "id": 0.5,
}


@dataclass(frozen=True, slots=True)
class Claim:
    kind: str
    key: str
    start: int
    end: int


def _month(name: str) -> int:
    return _MONTHS[name.lower()[:3]]


def _number(text: str) -> str:
    value = float(text.replace(",", ""))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _words(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def claims(text: str) -> Iterator[Claim]:
    """Every checkable fact in `text`, with its normalised key."""
    if any(ch.isdigit() for ch in text):
        for m in _AMOUNT.finditer(text):
            yield Claim("amount", _number(m.group(1) or m.group(2)), *m.span())
        for m in _PERCENT.finditer(text):
            yield Claim("percent", _number(m.group(1)), *m.span())
        for m in _DURATION.finditer(text):
            yield Claim("duration", f"{int(m.group(1))} {m.group(2).lower()}", *m.span())
        for m in _DATE_DM.finditer(text):
            yield Claim("date", f"{_month(m.group(2))}-{int(m.group(1))}", *m.span())
        for m in _DATE_MD.finditer(text):
            yield Claim("date", f"{_month(m.group(1))}-{int(m.group(2))}", *m.span())
        for m in _DATE_ISO.finditer(text):
            yield Claim("date", f"{int(m.group(2))}-{int(m.group(3))}", *m.span())
        for m in _CLAUSE.finditer(text):
            yield Claim("clause", m.group(1).replace(" ", "").lower(), *m.span())
        for m in _ID.finditer(text):
            yield Claim("id", m.group(1), *m.span())
    if '"' in text or "“" in text:
        for m in _QUOTE.finditer(text):
            if len(m.group(1).split()) >= 3:
                yield Claim("quote", _words(m.group(1)), *m.span())


@dataclass(frozen=True, slots=True)
class Reference:
    """What the draft may rely on, indexed for claim lookups."""

    keys: frozenset[tuple[str, str]]
    numbers: frozenset[str]
    words: str
    raw_lower: str

    @classmethod
    def of(cls, text: str) -> Reference:
        keys = frozenset((c.kind, c.key) for c in claims(text) if c.kind != "quote")
        numbers = frozenset(
            _number(n) for n in re.findall(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", text)
        )
        return cls(keys, numbers, _words(text), text.lower())

    def supports(self, claim: Claim) -> bool:
        if claim.kind == "quote":
            return claim.key in self.words
        if (claim.kind, claim.key) in self.keys:
            return True
        if claim.kind in ("amount", "percent", "id"):
            return claim.key in self.numbers
        if claim.kind == "clause":
            # The clause number must stand as a heading or reference in the sources: "4.2 Items"
            # or "section 4.2", not inside another number such as 14.25.
            number = re.escape(claim.key.split("(")[0])
            return re.search(rf"(?<![\d.]){number}(?![\d])", self.raw_lower) is not None
        return False


def reference_text(draft: Draft) -> str:
    ctx = draft.context
    return "\n".join([ctx.prompt, ctx.customer_message or "", *(s.text for s in ctx.sources)])


def grounding(draft: Draft) -> SignalResult:
    found = list(claims(draft.text))
    if not found:
        return SignalResult(0.0, details={"claims": 0, "unsupported": 0})
    ref_text = reference_text(draft)
    if not ref_text.strip():
        return SignalResult(
            0.25, details={"claims": len(found), "unsupported": 0, "unverifiable": True}
        )
    reference = Reference.of(ref_text)
    spans: list[Span] = []
    weight = 0.0
    kinds: dict[str, int] = {}
    for claim in found:
        if reference.supports(claim):
            continue
        weight += WEIGHTS[claim.kind]
        kinds[claim.kind] = kinds.get(claim.kind, 0) + 1
        label = (
            "quoted text not found in the sources"
            if claim.kind == "quote"
            else (f"{claim.kind} {claim.key} not in the sources")
        )
        spans.append(span(claim.start, claim.end, label))
    return SignalResult(
        saturate(weight),
        tuple(spans),
        {"claims": len(found), "unsupported": len(spans), "unsupported_kinds": dict(kinds)},
    )
