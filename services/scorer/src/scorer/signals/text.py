"""Small text helpers shared by signals: sentences and word tokens with their offsets."""

from __future__ import annotations

import re
from collections.abc import Iterator

# A full stop between two digits ("59.99", "section 4.2") is part of the number, not an end.
_SENTENCE = re.compile(r"[^.!?\n]+(?:(?<=\d)\.(?=\d)[^.!?\n]+)*(?:[.!?]+|\n|$)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of sentence-like stretches (split on . ! ? and newlines; not on
    a decimal point), stripped, non-empty."""
    for m in _SENTENCE.finditer(text):
        start, end = m.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            yield start, end


def words(text: str) -> Iterator[re.Match[str]]:
    return _WORD.finditer(text)
