"""Offensive language and hostile tone.

`toxicity`: alt-profanity-check's trained linear model (its vectorizer and weights ship inside
the package; nothing is downloaded), applied per sentence so one insult in a long email is not
diluted; the value is the worst sentence's probability, and sentences over 0.5 are flagged.

`tone`: hostile negativity (strongly negative words of the VADER lexicon, which ships in the
vaderSentiment package, excluding the vocabulary of apology) and condescension cues.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from hitl_schemas import Draft, Span
from scorer.signals.base import SignalResult, saturate, span
from scorer.signals.text import sentences, words

TOXICITY = "toxicity"
TONE = "tone"
FLAG_AT = 0.5
MAX_SENTENCES = 400  # a 100k-character draft is judged on its first 400 sentences


# The packaged vectorizer tokenizes with (?u)\b\w\w+\b; scanning left to right, \w\w+ finds
# the same tokens (a match can only start inside a word after a one-letter word) and is faster.
_TOKEN = re.compile(r"\w\w+")
ENSEMBLE_SIZE = 5


class ToxicityClassifier:
    """alt-profanity-check's model, evaluated per sentence without sklearn on the hot path.

    The package ships a TF-IDF vectorizer (unigrams, English stop words, l2 norm) and an
    ensemble of five linear SVMs, each with a sigmoid calibration. Loading them once, we fold
    each term's idf into the five weight vectors; a sentence's probability is then a few dict
    lookups and five dot products, equal to `predict_proba` (a unit test holds us to that)
    at a fraction of its per-call cost.
    """

    def __init__(self) -> None:
        import joblib  # type: ignore[import-untyped]  # joblib ships no type hints

        data = resources.files("profanity_check") / "data"
        vectorizer: Any = joblib.load(str(data / "vectorizer.joblib"))
        model: Any = joblib.load(str(data / "model.joblib"))
        members = model.calibrated_classifiers_
        if len(members) != ENSEMBLE_SIZE:
            raise RuntimeError(
                f"alt-profanity-check's model has {len(members)} calibrated members; this scorer "
                f"evaluates exactly {ENSEMBLE_SIZE}: pin alt-profanity-check to a tested version"
            )
        idf = vectorizer.idf_
        coefs = [m.estimator.coef_[0] for m in members]
        self._terms: dict[str, tuple[float, ...]] = {
            term: (float(idf[i]), *(float(idf[i] * c[i]) for c in coefs))
            for term, i in vectorizer.vocabulary_.items()
        }
        self._members = tuple(
            (
                float(m.estimator.intercept_[0]),
                float(m.calibrators[0].a_),
                float(m.calibrators[0].b_),
            )
            for m in members
        )
        self._sklearn = (vectorizer, model)

    def probability(self, text: str) -> float:
        counts: dict[str, int] = {}
        terms = self._terms
        for token in _TOKEN.findall(text.lower()):
            if token in terms:
                counts[token] = counts.get(token, 0) + 1
        norm = d0 = d1 = d2 = d3 = d4 = 0.0
        for token, count in counts.items():
            idf, w0, w1, w2, w3, w4 = terms[token]
            norm += (count * idf) ** 2
            d0 += count * w0
            d1 += count * w1
            d2 += count * w2
            d3 += count * w3
            d4 += count * w4
        scale = 1.0 / math.sqrt(norm) if norm > 0 else 0.0
        total = 0.0
        for decision, (intercept, a, b) in zip((d0, d1, d2, d3, d4), self._members, strict=True):
            z = a * (decision * scale + intercept) + b
            total += 1.0 / (1.0 + math.exp(min(z, 700.0)))
        return total / ENSEMBLE_SIZE

    def reference_probabilities(self, texts: Sequence[str]) -> list[float]:
        """sklearn's own predict_proba, for tests that check `probability` against it."""
        vectorizer, model = self._sklearn
        return [float(p) for p in model.predict_proba(vectorizer.transform(texts))[:, 1]]

    def score(self, draft: Draft) -> SignalResult:
        text = draft.text
        worst = 0.0
        flagged: list[Span] = []
        count = 0
        for count, (start, end) in enumerate(sentences(text), start=1):
            if count > MAX_SENTENCES:
                break
            prob = self.probability(text[start:end])
            worst = max(worst, prob)
            if prob >= FLAG_AT:
                flagged.append(span(start, end, f"offensive language (p={prob:.2f})"))
        return SignalResult(worst, tuple(flagged), {"sentences": count, "flagged": len(flagged)})

    def score_batch(self, drafts: Sequence[Draft]) -> list[SignalResult]:
        return [self.score(d) for d in drafts]


_APOLOGY = frozenset(
    "sorry apologize apologise apologies unfortunately regret problem problems issue issues "
    "delay delayed late inconvenience frustrating frustration disappointed disappointing "
    "worried concern concerns error mistake mistakes wrong miss missed missing lost damage "
    "damaged broken fault failed fail failure cancel cancelled canceled no not".split()
)

_CONDESCENSION = re.compile(
    r"\b(?:as (?:i|we) (?:already|clearly) (?:said|stated|explained|told you)"
    r"|per my (?:last|previous) (?:email|message)"
    r"|obviously|clearly you|you (?:should|would) have known"
    r"|it(?:'s| is) not (?:that )?(?:hard|difficult|rocket science)"
    r"|calm down|no offen[cs]e,? but|with all due respect|simply (?:read|follow|click)"
    r"|if you had (?:bothered|read)|as anyone (?:would know|knows)"
    r"|(?:read|check) the (?:manual|faq) next time"
    r"|you people|learn to|for the (?:last|hundredth|third) time)\b",
    re.IGNORECASE,
)


@cache
def _hostile_lexicon() -> dict[str, float]:
    """Words VADER rates strongly negative (<= -2.0 on its -4..4 scale), apology words removed."""
    text = (resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    lexicon: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].isalpha():
            valence = float(parts[1])
            if valence <= -2.0 and parts[0] not in _APOLOGY:
                lexicon[parts[0]] = valence
    return lexicon


# Literals that every condescension cue contains: a substring test skips the slow
# case-insensitive pattern for the great majority of drafts, which contain none.
_CONDESCENSION_TRIGGERS = (
    "as i ",
    "as we ",
    "per my",
    "obvious",
    "clearly you",
    "have known",
    "not that hard",
    "not hard",
    "not difficult",
    "rocket science",
    "calm down",
    "no offen",
    "due respect",
    "simply ",
    "if you had",
    "as anyone",
    "next time",
    "you people",
    "learn to",
    "for the last",
    "for the hundredth",
    "for the third",
)
_LETTERS = re.compile(r"[a-z]+")


def tone(draft: Draft) -> SignalResult:
    text = draft.text
    low = text.lower()
    lexicon = _hostile_lexicon()
    spans: list[Span] = []
    if any(t in low for t in _CONDESCENSION_TRIGGERS):
        spans = [
            span(m.start(), m.end(), "condescending phrasing")
            for m in _CONDESCENSION.finditer(text)
        ]
    cues = len(spans)
    hostile = 0.0
    # A set test on lowercase words first; offsets only for the few drafts with a hit.
    if not lexicon.keys().isdisjoint(_LETTERS.findall(low)):
        for m in words(text):
            valence = lexicon.get(m.group().lower())
            if valence is not None:
                hostile += -valence / 4.0
                spans.append(span(m.start(), m.end(), "hostile word"))
    value = max(saturate(cues, 0.5), saturate(hostile, 0.35))
    return SignalResult(
        value, tuple(spans), {"condescension_cues": cues, "hostility": round(hostile, 3)}
    )
