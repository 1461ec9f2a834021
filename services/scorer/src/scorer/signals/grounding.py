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
from functools import lru_cache

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

# Claims are found number-first: one scan for numbers, then small anchored patterns look at
# the few characters around each number. That is several times faster than scanning the
# whole text once per claim kind, and scoring speed is a product feature here.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£]|\b(?:usd|eur|gbp))\s?$")
_CURRENCY_AFTER = re.compile(r"\s?(?:usd|eur|gbp|dollars?|euros?|pounds?)\b")
_PERCENT_AFTER = re.compile(r"\s?(?:%|percent\b|per cent\b)")
_DURATION_AFTER = re.compile(r"\s?(?:business |working |calendar )?(hour|day|week|month|year)s?\b")
_MONTH_AFTER = re.compile(rf"(?:st|nd|rd|th)?(?: of)? {_MONTH}\b")
_MONTH_BEFORE = re.compile(rf"\b{_MONTH}\.? $")
_ORDINAL_AFTER = re.compile(r"(?:st|nd|rd|th)?\b")
_ISO_AFTER = re.compile(r"-(\d{2})-(\d{2})\b")
_CLAUSE_BEFORE = re.compile(r"\b(?:section|clause|article|paragraph|para\.|§)\s?$")
_CLAUSE_SUFFIX = re.compile(r"\s?\([a-z0-9]{1,3}\)")
_ID_BEFORE = re.compile(r"#\s?$")
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
    # 1,250.00 and 1250 are one amount; European 1.250,00 is read as 1.25 thousand only when
    # the comma comes last, which is rare enough in our drafts to accept.
    if "," in text and "." in text and text.rfind(",") > text.rfind("."):
        text = text.replace(".", "").replace(",", ".")
    value = float(text.replace(",", ""))
    return f"{value:.2f}".rstrip("0").rstrip(".")


@lru_cache(maxsize=256)
def _words(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def claims(text: str) -> Iterator[Claim]:
    """Every checkable fact in `text`, with its normalised key."""
    low = text.lower()
    for m in _NUMBER.finditer(text):
        yield from _classify(low, m.group(), m.start(), m.end())
    if '"' in text or "“" in text:
        for m in _QUOTE.finditer(text):
            if len(m.group(1).split()) >= 3:
                yield Claim("quote", _words(m.group(1)), *m.span())


def _classify(low: str, number: str, start: int, end: int) -> Iterator[Claim]:
    """What the number at [start, end) of the lowercased text claims, judged by its neighbours."""
    before = low[max(0, start - 12) : start]
    value = number.rstrip(".,")
    if (m := _ISO_AFTER.match(low, end)) and len(value) == 4:
        yield Claim("date", f"{int(m.group(1))}-{int(m.group(2))}", start, m.end())
        return
    if _ID_BEFORE.search(before) and value.isdigit() and len(value) >= 3:
        yield Claim("id", value, start - (2 if before.endswith(" ") else 1), end)
        return
    if (m := _CLAUSE_BEFORE.search(before)) is not None:
        suffix = _CLAUSE_SUFFIX.match(low, end)
        key = value + (suffix.group().strip() if suffix else "")
        yield Claim(
            "clause", key, start - (len(before) - m.start()), suffix.end() if suffix else end
        )
        return
    if (m := _CURRENCY_BEFORE.search(before)) is not None:
        yield Claim("amount", _number(value), start - (len(before) - m.start()), end)
        return
    if (m := _CURRENCY_AFTER.match(low, end)) is not None:
        yield Claim("amount", _number(value), start, m.end())
        return
    if (m := _PERCENT_AFTER.match(low, end)) is not None:
        yield Claim("percent", _number(value), start, m.end())
        return
    if not value.isdigit():
        return
    if (m := _DURATION_AFTER.match(low, end)) is not None:
        yield Claim("duration", f"{int(value)} {m.group(1)}", start, m.end())
    elif (m := _MONTH_AFTER.match(low, end)) is not None and int(value) <= 31:
        yield Claim("date", f"{_month(m.group(1))}-{int(value)}", start, m.end())
    elif (m := _MONTH_BEFORE.search(before)) is not None and int(value) <= 31:
        ordinal = _ORDINAL_AFTER.match(low, end)
        yield Claim(
            "date",
            f"{_month(m.group(1))}-{int(value)}",
            start - (len(before) - m.start()),
            ordinal.end() if ordinal else end,
        )


@dataclass(frozen=True, slots=True)
class Reference:
    """What the draft may rely on, indexed for claim lookups."""

    keys: frozenset[tuple[str, str]]
    numbers: frozenset[str]
    raw: str
    raw_lower: str

    @classmethod
    def of(cls, text: str) -> Reference:
        return _reference(text)

    def supports(self, claim: Claim) -> bool:
        if claim.kind == "quote":
            return claim.key in _words(self.raw)
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


@lru_cache(maxsize=512)
def _reference(text: str) -> Reference:
    # Drafts of one application share their policy pages and templates: index each text once.
    keys = frozenset((c.kind, c.key) for c in claims(text) if c.kind != "quote")
    numbers = frozenset(_number(n.rstrip(".,")) for n in _NUMBER.findall(text))
    return Reference(keys, numbers, text, text.lower())


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
