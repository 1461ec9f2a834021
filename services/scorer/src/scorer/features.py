"""From signal results to the named numeric features the combiner model reads, and the hashed
word n-grams of the draft text that a trained model may weigh as well."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from hitl_schemas import Draft
from scorer.signals.base import SignalResult

RISK_SIGNALS = ("pii", "toxicity", "tone", "commitments", "grounding", "form")
FEATURES = (
    "producer_logit",
    "producer_absent",
    *RISK_SIGNALS,
    "grounding_unverifiable",
    "signals_failed",
    "log_chars",
)

# Hashed text n-grams: word unigrams and bigrams of the lower-cased text, hashed into
# NGRAM_BUCKETS buckets with a hash-derived sign (collisions then cancel out on average instead
# of piling up), L2-normalised so a long draft weighs no more than a short one. The hash is
# stable across processes, machines and Python versions (CRC-32 of each word, then a 64-bit
# multiplicative mix of the word or word pair; Python's hash() is salted per process). The scheme
# name travels with a model, so a model trained under another scheme is refused, not misread.
NGRAM_SCHEME = "words-1-2/crc32-fib64/signed/l2"
NGRAM_BUCKETS = 1024
NGRAM_MAX_CHARS = 8_000  # bounds the cost per draft; the opening of a draft says what it is
# Lower-case ASCII letters, digits and "_" are word bytes; other ASCII bytes split words; bytes
# of multi-byte UTF-8 characters stay inside words. One bytes.translate pass, then split():
# several times faster than a regex on the scorer's hot path.
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_") | frozenset(range(128, 256))
_TO_WORDS = bytes(c if c in _WORD_BYTES else 0x20 for c in range(256))
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: top bits of key * it mix well
_TOP_BITS = np.uint64(64 - 11)  # 10 bits of bucket and 1 of sign
_PAIR_SHIFT = np.uint64(32)

NgramVector = npt.NDArray[np.float64]


def _logit(p: float) -> float:
    p = min(0.99, max(0.01, p))
    return math.log(p / (1.0 - p))


def features(draft: Draft, results: Mapping[str, SignalResult | None]) -> dict[str, float]:
    """A failed signal (None) contributes 0 to its feature and 1 to `signals_failed`."""
    producer = results.get("producer_confidence")
    absent = producer is None or producer.details.get("source") == "absent"
    grounding = results.get("grounding")
    out = {
        "producer_logit": 0.0 if absent or producer is None else _logit(producer.value),
        "producer_absent": 1.0 if absent else 0.0,
        "grounding_unverifiable": 1.0
        if grounding is not None and grounding.details.get("unverifiable")
        else 0.0,
        "signals_failed": float(sum(1 for r in results.values() if r is None)),
        "log_chars": math.log1p(len(draft.text)) / 10.0,
    }
    for name in RISK_SIGNALS:
        result = results.get(name)
        out[name] = 0.0 if result is None else result.value
    return out


def ngram_words(text: str) -> list[bytes]:
    lowered = text[:NGRAM_MAX_CHARS].lower().encode("utf-8", "surrogatepass")
    return lowered.translate(_TO_WORDS).split()


def ngram_vector(text: str) -> NgramVector:
    """Dense NGRAM_BUCKETS vector of the text's signed, hashed word unigrams and bigrams, with
    unit L2 norm (all zeros for a text without words)."""
    words = ngram_words(text)
    unigrams = np.fromiter(map(zlib.crc32, words), dtype=np.uint64, count=len(words))
    # A pair is its two 32-bit word hashes side by side: a 64-bit key that no unigram (< 2^32)
    # can equal, mixed like the unigrams by one multiplication (mod 2^64).
    pairs = (unigrams[:-1] << _PAIR_SHIFT) | unigrams[1:]
    keys = np.concatenate((unigrams, pairs)) * _GOLDEN
    signed = np.bincount((keys >> _TOP_BITS).astype(np.intp), minlength=2 * NGRAM_BUCKETS)
    vector = (signed[1::2] - signed[0::2]).astype(np.float64)
    norm = float(np.sqrt(vector @ vector))
    return vector / norm if norm else vector
