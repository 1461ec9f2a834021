"""The text that PII and toxicity read: the draft with the tricks that hide words undone.

A producer (or a prompt injection) can hide a card number or an insult from a pattern while a
reviewer still reads it: fullwidth or Arabic-Indic digits, zero-width characters inside a word,
Cyrillic look-alike letters, combining marks ("f̶u̶c̶k̶"), spaced letters ("s h i t", "f.u.c.k").
`normalize` undoes these and keeps, for every stretch it rewrote, where it came from, so a span
found in the normalised text is reported on the original characters the reviewer sees (spans are
code-point offsets into the original draft text).

Digit separators ("4 1 1 1-1111-1111 1111") and `[at]`/`[dot]` e-mails are left in the text:
the PII patterns read them there, since grouping is part of what tells a phone from a card.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

# Bidi embeddings, overrides and isolates: they reorder what a reviewer sees, so text can read
# differently on screen than it does to a pattern (flagged by the pii signal on their own).
BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")

# Letters of other scripts drawn like Latin ones: "fuсk" with a Cyrillic "с" reads as "fuck".
_LOOK_ALIKES = dict(
    zip(
        "аеорсухіјѕԁһӏԛԝАВЕКМНОРСТХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧο",
        "aeopcyxijsdhlqwABEKMHOPCTXIJSABEZHIKMNOPTYXo",
        strict=True,
    )
)
# Drawn as nothing although they are letters or symbols: Hangul fillers, the braille blank.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Combining diacritical marks (strike-through, "zalgo" and accents); other scripts' vowel signs are
# combining too but carry meaning, so only these blocks and the variation selectors are dropped.
_DROPPED_MARKS = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
    (0xE0100, 0xE01EF),
)
# A table grows by one entry per distinct character seen; drafts rarely use more than a few
# hundred, a hostile stream could use all of Unicode: start again past this many.
_MAX_TABLE = 50_000


def _dropped(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _DROPPED_MARKS)


def fold_char(ch: str) -> str:
    """What one character reads as: NFKC, digits of any script as ASCII, no invisible marks."""
    if ch in _LOOK_ALIKES:
        return _LOOK_ALIKES[ch]
    if ch in _INVISIBLE or _dropped(ch) or unicodedata.category(ch) == "Cf":
        return ""  # zero-width spaces and joiners, bidi controls, soft hyphen, tags, BOM
    if ch in "\u2028\u2029":
        return "\n"
    if unicodedata.category(ch) == "Pd" or ch == "\u2212":
        return "-"  # hyphens, dashes and the minus sign: "123‐45‐6789" is "123-45-6789"
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)  # Arabic-Indic, Devanagari, fullwidth, mathematical digits...
    folded = unicodedata.normalize("NFKC", ch)
    decomposed = unicodedata.normalize("NFD", folded)
    if any(_dropped(c) for c in decomposed):  # "ü" reads as "u"
        folded = unicodedata.normalize("NFC", "".join(c for c in decomposed if not _dropped(c)))
    return folded


class _FoldTable(dict[int, str]):
    """str.translate table filled on first sight of each character (C speed after that)."""

    def __missing__(self, codepoint: int) -> str:
        if len(self) > _MAX_TABLE:
            self.clear()
        value = self[codepoint] = fold_char(chr(codepoint))
        return value


class _LengthTable(dict[int, str]):
    """Maps each character to the character whose code is the length of its fold (0-18)."""

    def __missing__(self, codepoint: int) -> str:
        if len(self) > _MAX_TABLE:
            self.clear()
        value = self[codepoint] = chr(len(_FOLD[codepoint]))
        return value


_FOLD = _FoldTable()
_LENGTH = _LengthTable()

# Three or more single letters or digits joined by the same separator, at least one a letter:
# "s h i t", "f.u.c.k", "G B 8 2 W E S T". Digit-only runs are left to the PII digit patterns.
_SPACED = re.compile(r"(?<![\w])[^\W_](?P<sep>[ .\-_*]{1,2})[^\W_](?:(?P=sep)[^\W_])+(?![\w])")
_SEPARATORS = re.compile(r"[ .\-_*]+")
# What every spaced run has past its first letter; it opens with a character set, so it scans
# fast, where _SPACED's look-behind is tried at every position.
_SPACED_HINT = re.compile(r"[ .\-_*][A-Za-z][ .\-_*]{1,2}[^\W_][ .\-_*]")


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Rewritten stretches of one rewrite, sorted: (src_start, src_end) became (dst_start, dst_end).

    Text between stretches was copied unchanged, so offsets there shift by a constant."""

    dst_starts: tuple[int, ...]
    dst_ends: tuple[int, ...]
    src_starts: tuple[int, ...]
    src_ends: tuple[int, ...]

    def _char(self, pos: int) -> tuple[int, int]:
        """The source stretch that rewritten character `pos` came from."""
        i = bisect_right(self.dst_starts, pos) - 1
        if i < 0:
            return pos, pos + 1
        if pos < self.dst_ends[i]:
            return self.src_starts[i], self.src_ends[i]
        source = self.src_ends[i] + pos - self.dst_ends[i]
        return source, source + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        if end <= start:
            return self._char(start)[0], self._char(start)[0]
        return self._char(start)[0], self._char(end - 1)[1]


@dataclass(frozen=True, slots=True)
class CharMap:
    """For each character of a rewritten text, the source character it came from."""

    sources: npt.NDArray[np.int64]

    def span(self, start: int, end: int) -> tuple[int, int]:
        if end <= start:
            at = (
                int(self.sources[start]) if start < len(self.sources) else int(self.sources[-1]) + 1
            )
            return at, at
        return int(self.sources[start]), int(self.sources[end - 1]) + 1

    def _length(self) -> int:
        return int(self.sources[-1]) + 1 if len(self.sources) else 0


def _offset_map(edits: list[tuple[int, int, int]]) -> OffsetMap:
    """From (src_start, src_end, dst_length) edits in text order."""
    dst_starts, dst_ends, src_starts, src_ends = [], [], [], []
    shift = 0
    for src_start, src_end, length in edits:
        dst_start = src_start + shift
        dst_starts.append(dst_start)
        dst_ends.append(dst_start + length)
        src_starts.append(src_start)
        src_ends.append(src_end)
        shift += length - (src_end - src_start)
    return OffsetMap(tuple(dst_starts), tuple(dst_ends), tuple(src_starts), tuple(src_ends))


@dataclass(frozen=True, slots=True)
class Normalized:
    """The normalised text, and how to take its offsets back to the original text."""

    text: str
    maps: tuple[OffsetMap | CharMap, ...] = ()

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        for offsets in reversed(self.maps):
            start, end = offsets.span(start, end)
        return start, end


def _fold(text: str) -> tuple[str, OffsetMap | CharMap | None]:
    if text.isascii():
        return text, None
    folded = text.translate(_FOLD)
    lengths = np.frombuffer(text.translate(_LENGTH).encode("latin-1"), dtype=np.uint8)
    if len(folded) == len(text) and bool((lengths == 1).all()):
        return folded, None
    # Each folded character's source character, built in numpy: a hostile text can have a
    # zero-width character after every letter.
    return folded, CharMap(np.repeat(np.arange(len(text), dtype=np.int64), lengths))


def _join_spaced(text: str) -> tuple[str, OffsetMap | None]:
    if _SPACED_HINT.search(text) is None and _SPACED.match(text) is None:
        return text, None
    edits: list[tuple[int, int, int]] = []
    parts: list[str] = []
    last = 0
    for m in _SPACED.finditer(text):
        joined = _SEPARATORS.sub("", m.group())
        if joined.isdigit():
            continue
        parts += (text[last : m.start()], joined)
        edits.append((m.start(), m.end(), len(joined)))
        last = m.end()
    if not edits:
        return text, None
    parts.append(text[last:])
    return "".join(parts), _offset_map(edits)


@lru_cache(maxsize=16)
def normalize(text: str) -> Normalized:
    """The text as PII and toxicity read it, with offsets back to `text` (cached: several
    signals read the same draft)."""
    folded, fold_map = _fold(text)
    joined, join_map = _join_spaced(folded)
    return Normalized(joined, tuple(m for m in (fold_map, join_map) if m is not None))


def fold(text: str) -> str:
    """`normalize(text).text` without the offsets, for text nobody points into (the customer
    message PII is compared against)."""
    folded = text if text.isascii() else text.translate(_FOLD)
    return _join_spaced(folded)[0]


def bidi_controls(text: str) -> list[int]:
    """Offsets of bidi embedding, override and isolate characters in `text`."""
    if text.isascii():
        return []
    return [m.start() for m in BIDI_CONTROL.finditer(text)]


# A word with a digit or symbol next to a letter: "sh1t", "f*ck", "@ss", "b!tch".
_OBFUSCATED_WORD = re.compile(
    r"(?<![\w@$!|*])[\w@$!|*]*(?:[A-Za-z][0-9@$!|*]|[0-9@$!|*][A-Za-z])[\w@$!|*]*"
)
# The same, quickly: a digit or symbol with a letter before or after it.
_OBFUSCATED_HINT = re.compile(r"[0-9@$!|*](?<=[A-Za-z][0-9@$!|*])|[0-9@$!|*][A-Za-z]")
_LEET = str.maketrans("013457890@$!|", "oieastbgoasil")
_LEET_ALTERNATIVE = str.maketrans("013457890@$!|", "oleastbgoasli")  # "k1ll", "|diot"


def unmask(text: str, lexicon: frozenset[str]) -> str:
    """`text` with each leetspeak or masked spelling of a `lexicon` word (lowercase) replaced by
    that word, letter for letter (so offsets do not move). A spelling that reads as no word of
    the lexicon is left alone: "A55" or "4pm" are not insults."""
    if _OBFUSCATED_HINT.search(text) is None:
        return text
    found = _readings(text)
    tokens, readings = found.tokens, found.readings
    # Only a candidate with a reading in the lexicon, or a masked one ("f**k"), can spell a
    # word: the readings in the lexicon are one set intersection, so the letter-by-letter check
    # below runs for those few, not for each of a hostile draft's 3,000 e-mail addresses.
    hits = found.spelled & lexicon
    possible = {
        c for c, (a, b) in readings.items() if a in hits or b in hits or (found.masked and "*" in a)
    }
    by_length = _by_length(lexicon)

    def spell(token: str) -> str | None:
        for candidate in (token, token.rstrip("!")):
            for spelled in readings[candidate]:
                if "*" in spelled:
                    spelled = _fill_masked(spelled, by_length)
                if spelled in lexicon and len(spelled) == len(candidate):
                    return spelled + token[len(candidate) :]
        return None

    replacements: dict[str, str] = {}
    for token in tokens:
        if token not in possible and token.rstrip("!") not in possible:
            continue
        spelled = spell(token)
        if spelled is not None and sum(ch.isalpha() for ch in token) >= 2:
            replacements[token] = spelled
    if not replacements:
        return text
    return _OBFUSCATED_WORD.sub(lambda m: replacements.get(m.group(), m.group()), text)


# A run of word characters and the symbols leetspeak uses: the tokens `_OBFUSCATED_WORD` finds
# are the runs with a digit or symbol next to a letter. Found as runs (a pattern that opens
# with a character set scans fast) and then filtered, where `_OBFUSCATED_WORD` opens with a
# look-behind that sre tries at every position (3 ms on 50,000 characters of e-mail addresses).
_WORD_RUN = re.compile(r"[\w@$!|*]+")
_ADJACENT = re.compile(r"[A-Za-z][0-9@$!|*]|[0-9@$!|*][A-Za-z]")


@lru_cache(maxsize=8)  # toxicity and tone unmask the same normalised text with two lexicons
def _obfuscated_words(text: str) -> frozenset[str]:
    return frozenset(t for t in set(_WORD_RUN.findall(text)) if _ADJACENT.search(t))


@dataclass(frozen=True, slots=True)
class _Readings:
    """A text's obfuscated tokens and how each reads as letters, whatever the lexicon."""

    tokens: frozenset[str]
    readings: dict[str, tuple[str, str]]  # candidate -> (leet reading, alternative reading)
    spelled: frozenset[str]  # every reading
    masked: bool  # some candidate has a "*"


@lru_cache(maxsize=8)  # read once per text: toxicity and tone each look it up in their lexicon
def _readings(text: str) -> _Readings:
    tokens = _obfuscated_words(text)
    # Every distinct token (and its form without trailing "!") read both ways at once: two
    # translations of one joined string instead of four per token, which a draft of 5,000
    # e-mail addresses and order numbers made 25 ms.
    candidates = [*tokens, *{t.rstrip("!") for t in tokens if t.endswith("!")} - tokens]
    joined = "\n".join(candidates).lower()
    leet = joined.translate(_LEET).split("\n")
    alternative = joined.translate(_LEET_ALTERNATIVE).split("\n")
    return _Readings(
        tokens,
        dict(zip(candidates, zip(leet, alternative, strict=True), strict=True)),
        frozenset(leet) | frozenset(alternative),
        "*" in joined,
    )


@lru_cache(maxsize=8)
def _by_length(lexicon: frozenset[str]) -> dict[int, list[str]]:
    """The lexicon's words by length, each list sorted (cached: a lexicon is a module constant)."""
    by_length: dict[int, list[str]] = {}
    for word in sorted(lexicon):
        by_length.setdefault(len(word), []).append(word)
    return by_length


def _fill_masked(spelled: str, by_length: dict[int, list[str]]) -> str:
    """ "f**k" -> the first lexicon word of that length the visible letters fit, else unchanged."""
    # Compared letter by letter: compiling a pattern per masked token cost 0.5 ms each.
    return next(
        (
            word
            for word in by_length.get(len(spelled), ())
            if all(
                seen == letter or (seen == "*" and "a" <= letter <= "z")
                for seen, letter in zip(spelled, word, strict=True)
            )
        ),
        spelled,
    )
