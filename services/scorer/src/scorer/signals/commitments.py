"""Risky commitments: promises the business may not be allowed to make in this content type.

Which kinds are risky comes from the policy (`risky_commitments` per content type): a refund
promise is the point of a `refund_offer` but a risk in a `chat_reply`. A commitment that the
sources also state (the policy page says "full refund within 30 days") is reported as
`supported` and weighs far less; the sources are read through grounding's index of them (word
for word, ignoring case and punctuation), so a large source is read once for both signals.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pydantic import JsonValue

from hitl_schemas import Draft
from scorer.signals.base import SignalResult, SpanAt, saturate, span
from scorer.signals.grounding import Reference

NAME = "commitments"
# Bounds on one draft's work: spans built (the count per kind is in the details) and distinct
# phrases looked up in the sources (each lookup reads all of them: ~0.3 ms on 400,000
# characters, so 32 lookups were 10 ms of the worst draft; a draft making more than a dozen
# distinct promises is one to read anyway).
MAX_SPANS = 100
MAX_LOOKUPS = 12

_WRITTEN: dict[str, str] = {
    "refund": r"\b(?:(?:full|partial|immediate) refund|refund (?:you|your|the full)|"
    r"(?:we will|we'll|i will|i'll) refund|money back|reimburs\w+|"
    r"credit your (?:account|card))\b",
    "guarantee": r"\b(?:guarantee[ds]?|we promise|i promise|100 ?%|(?:will|shall) definitely|"
    r"never happen again|without fail|warrant(?:y|ies|ed))\b",
    "legal": r"\b(?:legally|you are (?:legally )?entitled|(?:not )?liable|liability|lawsuit|"
    r"waive[sd]?|we admit|binding|indemnif\w+|compensation (?:of|for))\b",
    "medical": r"\b(?:diagnos\w+|dosage|\d+ ?mg\b|prescri\w+|cure[sd]?|treatment for|"
    r"you should (?:take|stop taking)|safe to take|side effects? (?:are|is) (?:rare|minimal))",
    "financial": r"\b(?:guaranteed returns?|invest(?:ment)? advice|returns? of \d+ ?%|"
    r"interest rate of|tax (?:advice|deductible)|risk[- ]free|you will (?:earn|make))\b",
    "deadline": r"\b(?:within (?:\d+|one|two|24|48) (?:hours?|days?)|"
    r"by (?:tomorrow|tonight|end of day)|"
    r"(?:first thing|today) (?:tomorrow|before))\b",
}
# Matched against the lowercased draft: sre scans a case-sensitive pattern ~2.5x faster than
# the same with IGNORECASE (2.9 -> 1.2 ms on 50,000 characters). A draft whose lowercase has
# another length (a few letters lowercase to two) is matched as written, ignoring case, so
# offsets stay the draft's.
PATTERNS: dict[str, re.Pattern[str]] = {kind: re.compile(p) for kind, p in _WRITTEN.items()}
_ANY_CASE: dict[str, re.Pattern[str]] = {
    kind: re.compile(p, re.IGNORECASE) for kind, p in _WRITTEN.items()
}


# A literal that every match of a kind contains: a cheap substring test skips the regex for
# the kinds a draft cannot contain, which is most kinds for most drafts.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "refund": ("refund", "money back", "reimburs", "credit your"),
    "guarantee": (
        "guarantee",
        "promise",
        "100%",
        "100 %",
        "definitely",
        "never happen",
        "without fail",
        "warrant",
    ),
    "legal": (
        "legally",
        "entitled",
        "liab",
        "lawsuit",
        "waive",
        "we admit",
        "binding",
        "indemnif",
        "compensation",
    ),
    "medical": (
        "diagnos",
        "dosage",
        "mg",
        "prescri",
        " cure",
        "treatment for",
        "should take",
        "stop taking",
        "safe to take",
        "side effect",
    ),
    "financial": (
        "guaranteed return",
        "invest",
        "returns of",
        "return of",
        "interest rate",
        "tax ad",
        "tax ded",
        "risk-free",
        "risk free",
        "you will earn",
        "you will make",
    ),
    "deadline": ("within", "by tomorrow", "by tonight", "by end of day", "first thing", "today"),
}


def commitments(draft: Draft, risky: Collection[str]) -> SignalResult:
    text = draft.text
    low = text.lower()
    same_length = len(low) == len(text)
    sources: Reference | None = None  # indexed on the first match only (shared with grounding)
    stated: dict[str, bool] = {}  # phrase -> found in the sources: one search per phrase
    spans: list[SpanAt] = []
    found: dict[str, int] = {}
    unsupported = 0.0
    for kind in risky:
        pattern = (PATTERNS if same_length else _ANY_CASE).get(kind)
        if pattern is None or not any(t in low for t in TRIGGERS[kind]):
            continue
        for m in pattern.finditer(low if same_length else text):
            phrase = m.group().lower()
            supported = stated.get(phrase)
            if supported is None:
                if sources is None:
                    sources = Reference(s.text for s in draft.context.sources)
                # Each search reads all the sources: past MAX_LOOKUPS distinct phrases a
                # phrase counts as not stated (more risk, never less), so the work is bounded;
                # so does every phrase when the sources are over grounding's reference cap.
                supported = len(stated) < MAX_LOOKUPS and sources.states(phrase)
                stated[phrase] = supported
            found[kind] = found.get(kind, 0) + 1
            unsupported += 0.15 if supported else 1.0
            if len(spans) < MAX_SPANS:
                label = f"{kind} commitment{' (stated in sources)' if supported else ''}"
                spans.append(span(m.start(), m.end(), label))
    details: dict[str, JsonValue] = {"kinds": dict(found)}
    return SignalResult(saturate(unsupported), tuple(spans), details)
