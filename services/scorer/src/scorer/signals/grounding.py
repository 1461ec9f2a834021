"""Grounding: facts in the draft that the draft's own material does not support.

Claims are amounts, percentages, durations, dates, clause references, order-style ids and
quoted passages. Each is looked up in the reference text (sources, customer message, prompt)
after normalisation (1,250.00 = 1250 = 1.250,00; 3 Nov = November 3rd = 2026-11-03; "section
4.2" needs a 4.2 in the sources; a quote must appear word for word, ignoring case and
punctuation). Unsupported claims are flagged with what was not found: the misquoted clause, the
wrong amount.

The work is bounded by the draft, not by claims x sources: each text of the reference (prompt,
customer message, each source) is indexed once, and cached, so a source many drafts cite is read
once (each of its few patterns scans it at most once, and only when a claim needs it); every
claim is then a set lookup, and a draft with more claims than `MAX_CLAIMS` (or numbers than
`MAX_NUMBERS`, or quotes than `MAX_QUOTES`) is not checked at all: `TooManyClaims` fails the
signal, and a failed signal sends the draft to review (the policy's `on_signal_failure`). So is
a draft with claims whose reference is longer than `MAX_REFERENCE_CHARS`: indexing is linear, but
a reference at the input limit (400,000 characters, none of it seen before) cost as much as the
whole per-draft budget.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import islice

from hitl_schemas import Draft
from scorer.signals.base import SignalResult, SpanAt, saturate, span
from scorer.signals.numbers import amount_spellings, number_key

NAME = "grounding"

# A legitimate draft, even a long contract clause, states a hundred facts or so; past these
# the draft is reviewed instead of checked, which keeps the worst draft cheap (each claim costs
# ~15 us, each quote one search of the reference: at 250 claims and 16 quotes the worst draft
# at the size limits spent ~10 ms on its claims alone, a fifth of the 50 ms per draft).
MAX_NUMBERS = 600  # numbers looked at in one draft (most numbers are not claims)
MAX_CLAIMS = 150
MAX_QUOTES = 12  # each quote costs one substring search of the (normalised) reference
# The reference text a draft's claims are checked against, in characters (its distinct texts:
# a source sent twice counts once). Indexing it costs ~70 ns a character when no earlier draft
# cited it, so this keeps the worst draft's grounding near 15 ms; a retrieval context of 50,000
# tokens fits. Counted whatever the cache holds, so a draft is checked or reviewed the same way
# on every replica and in every replay.
MAX_REFERENCE_CHARS = 200_000

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
# The spellings `_MONTH` matches, by month: a date claim is looked up under each of them.
_SPELLINGS = {
    1: ("jan", "january"),
    2: ("feb", "february"),
    3: ("mar", "march"),
    4: ("apr", "april"),
    5: ("may",),
    6: ("jun", "june"),
    7: ("jul", "july"),
    8: ("aug", "august"),
    9: ("sep", "sept", "september"),
    10: ("oct", "october"),
    11: ("nov", "november"),
    12: ("dec", "december"),
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)

# Claims are found number-first: one scan for numbers, then small anchored patterns look at
# the few characters around each number.
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
# A quote's body stops at any quote mark, so each attempt ends at the next one: linear time.
_QUOTE = re.compile(r"[\"“]([^\"“”]{12,600})[\"”]")

# Quotes compare as lowercase ASCII words and digits separated by single spaces.
# The table lowercases too: one byte translation instead of lowercasing the text first (2 ms of
# a 400,000-character source). A character outside ASCII separates words, as before.
_WORD_BYTES = bytes(
    ord(chr(c).lower()) if chr(c).isascii() and chr(c).isalnum() else 0x20 for c in range(256)
)

WEIGHTS = {
    "quote": 1.0,
    "clause": 1.0,
    "amount": 0.9,
    "percent": 0.8,
    "date": 0.6,
    "duration": 0.6,
    "id": 0.5,
}


class TooManyClaims(Exception):
    """More claims than grounding checks in one draft: the draft is reviewed, not checked."""


@dataclass(frozen=True, slots=True)
class Claim:
    kind: str
    key: str
    start: int
    end: int


def _digits(value: str) -> str:
    """A digit run without leading zeros: compared as a string, never converted to int."""
    return value.lstrip("0") or "0"


def _day(value: str) -> str | None:
    day = _digits(value)
    return day if len(day) <= 2 and int(day) <= 31 else None


def _lower(text: str) -> str:
    # Offsets found in the lowercased text must point into the original: a few characters
    # (İ) lowercase to two, so such a text is lowercased character by character instead.
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


@lru_cache(maxsize=256)
def _words(text: str) -> str:
    """ " a b c ": the text's ASCII words and digits, lowercased (other characters separate)."""
    ascii_bytes = text.encode("ascii", "replace").translate(_WORD_BYTES)
    return " " + " ".join(ascii_bytes.decode("ascii").split()) + " "


def claims(text: str) -> list[Claim]:
    """Every checkable fact in `text`, with its normalised key; raises TooManyClaims past the
    caps (without looking at the rest of the text)."""
    # Counted before any is classified: a draft past the cap costs one scan, not a thousand
    # classifications before it is refused.
    numbers = list(islice(_NUMBER.finditer(text), MAX_NUMBERS + 1))
    if len(numbers) > MAX_NUMBERS:
        raise TooManyClaims(f"more than {MAX_NUMBERS} numbers; review the draft")
    low = _lower(text)
    found: list[Claim] = []
    for m in numbers:
        found.extend(_classify(low, m.group(), m.start(), m.end()))
        if len(found) > MAX_CLAIMS:
            raise TooManyClaims(f"more than {MAX_CLAIMS} claims to check; review the draft")
    if '"' in text or "“" in text:
        quotes = 0
        for m in _QUOTE.finditer(text):
            if len(m.group(1).split(None, 2)) >= 3:
                quotes += 1
                if quotes > MAX_QUOTES:
                    raise TooManyClaims(f"more than {MAX_QUOTES} quotes to check; review it")
                found.append(Claim("quote", _words(m.group(1)), *m.span()))
    return found


def _classify(low: str, number: str, start: int, end: int) -> list[Claim]:
    """What the number at [start, end) of the lowercased text claims, judged by its neighbours."""
    before = low[max(0, start - 12) : start]
    value = number.rstrip(".,")
    if (m := _ISO_AFTER.match(low, end)) and len(value) == 4:
        return [Claim("date", f"{_digits(m.group(1))}-{_digits(m.group(2))}", start, m.end())]
    if _ID_BEFORE.search(before) and value.isdigit() and len(value) >= 3:
        return [Claim("id", number_key(value), start - (2 if before.endswith(" ") else 1), end)]
    if (m := _CLAUSE_BEFORE.search(before)) is not None:
        suffix = _CLAUSE_SUFFIX.match(low, end)
        key = value + (suffix.group().strip() if suffix else "")
        at = start - (len(before) - m.start())
        return [Claim("clause", key, at, suffix.end() if suffix else end)]
    if (m := _CURRENCY_BEFORE.search(before)) is not None:
        return [Claim("amount", number_key(value), start - (len(before) - m.start()), end)]
    if (m := _CURRENCY_AFTER.match(low, end)) is not None:
        return [Claim("amount", number_key(value), start, m.end())]
    if (m := _PERCENT_AFTER.match(low, end)) is not None:
        return [Claim("percent", number_key(value), start, m.end())]
    if not value.isdigit():
        return []
    if (m := _DURATION_AFTER.match(low, end)) is not None:
        return [Claim("duration", f"{_digits(value)} {m.group(1)}", start, m.end())]
    day = _day(value)
    if day is None:
        return []
    if (m := _MONTH_AFTER.match(low, end)) is not None:
        return [Claim("date", f"{_MONTHS[m.group(1)[:3]]}-{day}", start, m.end())]
    if (m := _MONTH_BEFORE.search(before)) is not None:
        ordinal = _ORDINAL_AFTER.match(low, end)
        at = start - (len(before) - m.start())
        return [
            Claim("date", f"{_MONTHS[m.group(1)[:3]]}-{day}", at, ordinal.end() if ordinal else end)
        ]
    return []


class Reference:
    """What the draft may rely on: its prompt, customer message and sources, each indexed on its
    own (and cached per text, so a policy page that many drafts cite is read once, whatever each
    customer wrote). A claim is supported when any one of the texts supports it."""

    def __init__(self, texts: Iterable[str]) -> None:
        distinct = dict.fromkeys(t for t in texts if t and not t.isspace())
        self.chars = sum(map(len, distinct))
        # Past the cap nothing is indexed: `checkable` is False and no text is read.
        self.checkable = self.chars <= MAX_REFERENCE_CHARS
        self.parts = tuple(_indexed(t) for t in distinct) if self.checkable else ()

    @cached_property
    def numbers(self) -> frozenset[str]:
        """Every number as written (1,250.00; 4.2; 03.11.2026) in any of the texts."""
        return frozenset().union(*(p.numbers for p in self.parts))

    @cached_property
    def sorted_numbers(self) -> list[str]:
        return sorted(self.numbers)

    def _any(self, index: Callable[[_Indexed], frozenset[str]], value: str) -> bool:
        return any(value in index(p) for p in self.parts)

    def states(self, phrase: str) -> bool:
        """Does any text say `phrase` word for word (ignoring case and punctuation)?"""
        return self._worded(_words(phrase))

    def _worded(self, words: str) -> bool:
        return words.strip() != "" and any(words in p.words for p in self.parts)

    def supported(self, found: Iterable[Claim]) -> list[bool]:
        found = list(found)
        clauses = self._clause_numbers({c.key.split("(")[0] for c in found if c.kind == "clause"})
        return [self._supports(c, clauses) for c in found]

    def _supports(self, claim: Claim, clauses: frozenset[str]) -> bool:
        kind, key = claim.kind, claim.key
        if kind == "quote":
            return self._worded(key)
        if kind in ("amount", "percent", "id"):
            return any(s in self.numbers for s in amount_spellings(key))
        if kind == "clause":
            return key.split("(")[0] in clauses
        if kind == "duration":
            count, unit = key.split(" ")
            return self._any(lambda p: p.counts_before(unit), count)
        if kind == "date":
            month, day = (int(part) for part in key.split("-"))
            return self._has_date(month, day)
        return False

    def _has_date(self, month: int, day: int) -> bool:
        """3 Nov, 03 November, 3rd of Nov, November 3rd, Nov. 03, 2026-11-03."""
        if self._any(lambda p: p.iso_dates, f"{month:02d}-{day:02d}"):
            return True
        if self._any(lambda p: p.days_before(month), str(day)):
            return True
        return self._any(lambda p: p.days_after(month), str(day))

    def _clause_numbers(self, keys: set[str]) -> frozenset[str]:
        """The clause numbers among `keys` that stand as a heading or reference in the text:
        "4.2 Items", "section 4.2" or "4.2.1", not inside another number such as 14.25."""
        supported = {k for k in keys if k in self.numbers}
        rest = keys - supported
        if rest:
            # A number that starts with "4.2." (or "4.2,") is a subclause of 4.2: in the sorted
            # numbers it is the first one at or after "4.2.", so each lookup is a bisection.
            ordered = self.sorted_numbers
            for key in rest:
                for prefix in (key + ".", key + ","):
                    at = bisect_left(ordered, prefix)
                    if at < len(ordered) and ordered[at].startswith(prefix):
                        supported.add(key)
        return frozenset(supported)


# Bytes kept when a text is cut into number tokens: digits and the two marks.
_NUMBER_BYTES = bytes(c if chr(c) in "0123456789.," else 0x20 for c in range(256))
_MARKS_RUN = re.compile(r"[.,]{2,}")
_WITH_MARKS_RUN = re.compile(r"[^\n]*[.,]{2}[^\n]*")
# "2026-11-03": found at its first dash (a literal, which sre finds by fast search), the year
# checked behind it; a pattern opening with \d is tried at every digit of a text of numbers.
_ISO_DATE = re.compile(r"-(\d\d-\d\d)(?!\d)(?<=\d{4}-\d\d-\d\d)")


def _reversed_words(word: str) -> str:
    return " " + word[::-1] + " "


def _before_pattern(word: str, between: str, number: str) -> re.Pattern[str]:
    """What stands before `word` in the words (" 14 business days ", " 3rd of november "), as
    a pattern over the words reversed: `word` then opens it as a literal sre finds by fast
    search, where the same pattern forwards would be tried at every digit."""
    return re.compile(rf"{_reversed_words(word)}{between}({number}) ")


_UNITS = ("hour", "day", "week", "month", "year")
_COUNT_BEFORE = {
    unit: tuple(
        _before_pattern(w, "(?:ssenisub |gnikrow |radnelac )?", r"\d+") for w in (unit, unit + "s")
    )
    for unit in _UNITS
}
_DAY_BEFORE = {
    month: tuple(_before_pattern(n, "(?:fo )?(?:ts|dn|dr|ht)?", r"\d{1,2}") for n in names)
    for month, names in _SPELLINGS.items()
}


def _month_first_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """ " nov(?:ember)? (3)(?:rd)? " over the words: every spelling of a month shares its first
    three letters, which stay one literal for sre's fast search."""
    head, endings = names[0], sorted((n[3:] for n in names[1:]), key=len, reverse=True)
    rest = f"(?:{'|'.join(endings)})?" if endings else ""
    return re.compile(rf" {head}{rest} (\d{{1,2}})(?:st|nd|rd|th)? ")


_DAY_AFTER = {month: _month_first_pattern(names) for month, names in _SPELLINGS.items()}


class _Indexed:
    """One text of the reference and its indexes, each built on first use by one scan: numbers
    from byte operations, dates and durations from its words (lowercase ASCII words and digits
    separated by single spaces, as quotes compare), each by a pattern that opens with a literal.
    On a 400,000-character text dense in numbers the whole index costs about what one scan
    with a pattern opening with a digit did (16 ms)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._found: dict[tuple[str, int | str], frozenset[str]] = {}

    @cached_property
    def numbers(self) -> frozenset[str]:
        # The tokens `_NUMBER` finds: everything but digits and marks becomes a space, then each
        # distinct token loses its outer marks and splits at runs of marks ("1.,2" is 1 and 2).
        # Digits of other scripts are not read here: a claim in them is flagged, never passed.
        kept = self.text.encode("ascii", "replace").translate(_NUMBER_BYTES).decode("ascii")
        found = {token.strip(".,") for token in set(kept.split())}
        # "1.,2" is 1 and 2: the tokens with a run of marks, in one scan, when the text has one
        # (four substring searches: a pattern search stops at every mark of a text of numbers).
        if any(run in kept for run in ("..", ",,", ".,", ",.")):
            for token in _WITH_MARKS_RUN.findall("\n".join(found)):
                found.remove(token)
                found.update(_MARKS_RUN.split(token))
        found.discard("")
        return frozenset(found)

    @cached_property
    def iso_dates(self) -> frozenset[str]:
        return frozenset(_ISO_DATE.findall(self.text))

    @cached_property
    def words(self) -> str:
        return _words(self.text)

    @cached_property
    def _words_reversed(self) -> str:
        return self.words[::-1]

    def counts_before(self, unit: str) -> frozenset[str]:
        """The counts written before `unit` ("14 days", "3 business days")."""
        return self._scan(("count", unit), _COUNT_BEFORE.get(unit, ()), reverse=True)

    def days_before(self, month: int) -> frozenset[str]:
        """The days written before `month` ("3 Nov", "3rd of November")."""
        return self._scan(("before", month), _DAY_BEFORE.get(month, ()), reverse=True)

    def days_after(self, month: int) -> frozenset[str]:
        """The days written after `month` ("November 3rd", "Nov. 03")."""
        return self._scan(("after", month), (_DAY_AFTER[month],) if month in _DAY_AFTER else ())

    def _scan(
        self,
        what: tuple[str, int | str],
        patterns: Iterable[re.Pattern[str]],
        *,
        reverse: bool = False,
    ) -> frozenset[str]:
        if what not in self._found:
            text = self._words_reversed if reverse else self.words
            found = (m[::-1] if reverse else m for p in patterns for m in p.findall(text))
            self._found[what] = frozenset(_digits(n) for n in found)
        return self._found[what]


@lru_cache(maxsize=16)
def _indexed(text: str) -> _Indexed:
    # Drafts of one application share their policy pages and templates: index each text once.
    return _Indexed(text)


def reference_texts(draft: Draft) -> list[str]:
    ctx = draft.context
    return [ctx.prompt, ctx.customer_message or "", *(s.text for s in ctx.sources)]


SHOWN_PER_KIND = 3  # values of a kind a flagged claim's label quotes from the sources
# What the labels quote is read from the start of each source, and from this much text in all:
# the first values of a kind are what a label shows, and a 400,000-character source of numbers
# would otherwise cost as much to quote from as to check.
QUOTED_FROM_CHARS = 8_000


def _what_sources_state(draft: Draft) -> dict[str, str]:
    """Per claim kind, what the sources say, for a reviewer to fix a flagged figure in one
    look: "Order record: £59.99" (the first SHOWN_PER_KIND values of the kind, as written)."""
    shown: dict[str, list[str]] = {}
    budget = QUOTED_FROM_CHARS
    for source in draft.context.sources:
        if budget <= 0:
            break
        head = source.text[:budget]
        budget -= len(head)
        for claim in _source_claims(head):
            values = shown.setdefault(claim.kind, [])
            value = f"{source.title or source.source_id}: {head[claim.start : claim.end]}"
            if len(values) < SHOWN_PER_KIND and value not in values:
                values.append(value)
    return {kind: "; ".join(values) for kind, values in shown.items()}


@lru_cache(maxsize=16)  # as `_indexed`: bounded memory whatever the sources' sizes
def _source_claims(text: str) -> tuple[Claim, ...]:
    # A source is shared by many drafts: read once. One with more figures than a draft may
    # carry is not quoted from (the labels stay short; the claim is still flagged).
    try:
        return tuple(c for c in claims(text) if c.kind != "quote")
    except TooManyClaims:
        return ()


def grounding(draft: Draft) -> SignalResult:
    found = claims(draft.text)
    if not found:
        return SignalResult(0.0, details={"claims": 0, "unsupported": 0})
    reference = Reference(reference_texts(draft))
    if not reference.checkable:
        raise TooManyClaims(
            f"a reference of {reference.chars:,} characters, over {MAX_REFERENCE_CHARS:,}; "
            "review the draft"
        )
    if not reference.parts:
        return SignalResult(
            0.25, details={"claims": len(found), "unsupported": 0, "unverifiable": True}
        )
    spans: list[SpanAt] = []
    weight = 0.0
    kinds: dict[str, int] = {}
    stated: dict[str, str] | None = None
    for claim, ok in zip(found, reference.supported(found), strict=True):
        if ok:
            continue
        weight += WEIGHTS[claim.kind]
        kinds[claim.kind] = kinds.get(claim.kind, 0) + 1
        if claim.kind == "quote":
            label = "quoted text not found in the sources"
        else:
            stated = _what_sources_state(draft) if stated is None else stated
            said = stated.get(claim.kind)
            written = " ".join(draft.text[claim.start : claim.end].split())[:40]
            label = f"{written} not in the sources" + (f"; the sources say {said}" if said else "")
        spans.append(span(claim.start, claim.end, label))
    return SignalResult(
        saturate(weight),
        tuple(spans),
        {"claims": len(found), "unsupported": len(spans), "unsupported_kinds": dict(kinds)},
    )
