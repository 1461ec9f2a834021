"""Form: length and structure anomalies for the content type, and generation artefacts.

Too short or too long for its type, too many lines, the same sentence repeated (a degenerate
generation), text cut off mid-sentence, template placeholders left in, or the model talking
about itself.
"""

from __future__ import annotations

import re

from pydantic import JsonValue

from hitl_runtime.policy import FormPolicy
from hitl_schemas import Draft
from scorer.signals.base import SignalResult, SpanAt, span
from scorer.signals.text import sentences

NAME = "form"
# Spans built per problem: a 50,000-character draft of placeholders has 18,000 of them, and
# building each costs more than finding it. The details count them all.
MAX_SPANS_PER_PROBLEM = 50

# The look-ahead names every alternative's first character: sre then skips the positions where
# none can start (1.5 ms on a 50,000-character draft, where trying each position took 11 ms).
_ARTEFACT = re.compile(
    r"(?=[\[{<laitx])"
    r"(?:\[(?:customer|your|insert|name|company|date|amount)[^\]]{0,30}\]|\{\{?\s*\w+\s*\}\}?|<insert[^>]*>"
    r"|lorem ipsum|as an ai(?: language)? model|i(?:'m| am) (?:just )?an ai|i cannot browse"
    r"|\bTODO\b|\bXXX\b)",
    re.IGNORECASE,
)
_ARTEFACT_TRIGGERS = ("[", "{", "<insert", "lorem", " ai", "browse", "todo", "xxx")
_ENDS_CLEANLY = re.compile(r"[.!?:)\]\"'”’…]\s*$|\n\s*[-–—]?\s*\w[\w .,'-]{0,40}$")


def form(draft: Draft, policy: FormPolicy) -> SignalResult:
    text = draft.text
    length = len(text)
    problems: dict[str, float] = {}
    spans: list[SpanAt] = []
    if length < policy.min_chars:
        problems["too_short"] = 1.0 if length == 0 else 0.7
    elif length > policy.max_chars:
        problems["too_long"] = min(1.0, 0.5 + 0.5 * (length / policy.max_chars - 1))
    lines = text.count("\n") + 1
    if lines > policy.max_lines:
        problems["too_many_lines"] = 0.5
    seen: set[str] = set()
    repeats = 0
    head = text[:20_000]
    low_head = head.lower()
    same_offsets = len(low_head) == len(head)  # a few letters lowercase to two characters
    for start, end in sentences(head):
        key = low_head[start:end] if same_offsets else head[start:end].lower()
        if len(key) >= 20:
            if key in seen:
                repeats += 1
                if repeats <= MAX_SPANS_PER_PROBLEM:
                    spans.append(span(start, end, "repeated sentence"))
            seen.add(key)
    if repeats:
        problems["repetition"] = min(1.0, 0.4 * repeats)
    low = text.lower()
    artefacts = 0
    if any(t in low for t in _ARTEFACT_TRIGGERS):
        for m in _ARTEFACT.finditer(text):
            artefacts += 1
            if artefacts <= MAX_SPANS_PER_PROBLEM:
                spans.append(span(m.start(), m.end(), "placeholder or generation artefact"))
    if artefacts:
        problems["artefact"] = 1.0
    if length >= 40 and not _ENDS_CLEANLY.search(text[-60:]):
        problems["truncated"] = 0.5
        spans.append(span(max(0, length - 20), length, "ends mid-sentence"))
    value = max(problems.values(), default=0.0)
    names: list[JsonValue] = [*sorted(problems)]
    details: dict[str, JsonValue] = {"chars": length, "lines": lines, "problems": names}
    if repeats:
        details["repeated_sentences"] = repeats
    if artefacts:
        details["artefacts"] = artefacts
    return SignalResult(value, tuple(spans), details)
