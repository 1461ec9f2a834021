"""Offensive language and hostile tone.

`toxicity`: alt-profanity-check's trained linear model (its vectorizer and weights ship inside
the package; nothing is downloaded), applied per sentence so one insult in a long email is not
diluted; the value is the worst sentence's probability, and sentences over 0.5 are flagged.

`tone`: hostile negativity (strongly negative words of the VADER lexicon, which ships in the
vaderSentiment package, excluding the vocabulary of apology) and condescension cues.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from hitl_schemas import Draft
from scorer.signals.base import SignalResult, saturate, span
from scorer.signals.text import sentences, words

TOXICITY = "toxicity"
TONE = "tone"
FLAG_AT = 0.5
MAX_SENTENCES = 400  # a 100k-character draft is judged on its first 400 sentences


class ToxicityClassifier:
    """Loads the packaged model once; scores many drafts in one vectorized call."""

    def __init__(self) -> None:
        import joblib  # type: ignore[import-untyped]  # joblib ships no type hints

        data = resources.files("profanity_check") / "data"
        self._vectorizer: Any = joblib.load(str(data / "vectorizer.joblib"))
        self._model: Any = joblib.load(str(data / "model.joblib"))

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        matrix = self._vectorizer.transform(texts)
        return [float(p) for p in self._model.predict_proba(matrix)[:, 1]]

    def score_batch(self, drafts: Sequence[Draft]) -> list[SignalResult]:
        pieces: list[tuple[int, int, int]] = []  # (draft index, start, end)
        for index, draft in enumerate(drafts):
            for n, (start, end) in enumerate(sentences(draft.text)):
                if n >= MAX_SENTENCES:
                    break
                pieces.append((index, start, end))
        probs = self.probabilities([drafts[i].text[s:e] for i, s, e in pieces])
        worst = [0.0] * len(drafts)
        flagged: list[list[tuple[int, int, float]]] = [[] for _ in drafts]
        for (index, start, end), prob in zip(pieces, probs, strict=True):
            worst[index] = max(worst[index], prob)
            if prob >= FLAG_AT:
                flagged[index].append((start, end, prob))
        return [
            SignalResult(
                worst[i],
                tuple(span(s, e, f"offensive language (p={p:.2f})") for s, e, p in flagged[i]),
                {
                    "sentences": sum(1 for piece in pieces if piece[0] == i),
                    "flagged": len(flagged[i]),
                },
            )
            for i in range(len(drafts))
        ]


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


def tone(draft: Draft) -> SignalResult:
    text = draft.text
    lexicon = _hostile_lexicon()
    spans = [
        span(m.start(), m.end(), "condescending phrasing") for m in _CONDESCENSION.finditer(text)
    ]
    cues = len(spans)
    hostile = 0.0
    for m in words(text):
        valence = lexicon.get(m.group().lower())
        if valence is not None:
            hostile += -valence / 4.0
            spans.append(span(m.start(), m.end(), "hostile word"))
    value = max(saturate(cues, 0.5), saturate(hostile, 0.35))
    return SignalResult(
        value, tuple(spans), {"condescension_cues": cues, "hostility": round(hostile, 3)}
    )
