"""Offensive language and hostile tone.

`toxicity`: alt-profanity-check's trained linear model (its vectorizer and weights ship inside
the package; nothing is downloaded), applied per sentence so one insult in a long email is not
diluted; the value is the worst sentence's score, and sentences scoring 0.5 or more are flagged.
Every sentence of the text is read, all of a batch's sentences in one vectorised evaluation.

A short sentence's score (under SHORT_WORDS words) is its probability alone, lowered to that of
its run (the sentence with its neighbours, up to CONTEXT_WORDS words) when that is lower, unless
the sentence alone is clearly toxic (CLEARLY_TOXIC); a full sentence is judged alone, so one
condescending line is not diluted by the polite ones around it (a tried trick: 0.57 alone, 0.16
in context). Why: the model was trained on comments of a few dozen words, and on two
or three words it reads noise: "Customer Care" alone is 0.33, "packed" 0.55, while a sign-off
block or a paragraph around them is near 0.02. An insult ("you moron", 0.99 alone) keeps its
score among any number of polite lines. At most MAX_CONTEXT_RUNS runs are scored per draft
(those of its highest-scoring sentences, each run at most MAX_RUN_CHARS), so a huge draft costs
a bounded extra; a sentence whose run is not scored keeps its score alone (context only lowers).

Both read the normalised text (signals/normalize.py: other scripts' look-alike letters,
zero-width characters, spaced letters undone), with leetspeak and masked letters ("sh1t",
"f*ck", "@ss") read as the word they spell when that word is one the signal flags; spans are
reported on the original characters.

`tone`: hostile negativity (strongly negative words of the VADER lexicon, which ships in the
vaderSentiment package, excluding the vocabulary of apology) and condescension cues.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from hitl_schemas import Draft
from scorer.signals.base import SignalResult, SpanAt, saturate, span
from scorer.signals.normalize import Normalized, normalize, unmask
from scorer.signals.text import sentences

TOXICITY = "toxicity"
TONE = "tone"
FLAG_AT = 0.5
# A sentence at least this offensive on its own keeps its score whatever surrounds it: the
# toxic_language hard rule's level in the default policy.
CLEARLY_TOXIC = 0.7
# Words a sentence's run reaches (with its own) before the run stops growing: about a short
# paragraph or comment, the length the model was trained on. A run never dilutes a sentence
# with more than this, so a line that is hostile without a swear word still counts.
CONTEXT_WORDS = 40
# Sentences under this many words are read in context: the sign-offs, names and fragments
# ("Customer Care", "packed") the model misreads. Longer ones are judged alone.
SHORT_WORDS = 6
MAX_CONTEXT_RUNS = 100  # runs scored per draft: bounds the extra work on a huge draft
MAX_RUN_CHARS = 2_000  # a neighbour that would make the run longer is not added


# The packaged vectorizer tokenizes with (?u)\b\w\w+\b; scanning left to right, \w\w+ finds
# the same tokens (a match can only start inside a word after a one-letter word) and is faster.
_TOKEN = re.compile(r"\w\w+")
ENSEMBLE_SIZE = 5


class ToxicityClassifier:
    """alt-profanity-check's model, evaluated on many sentences at once without sklearn.

    The package ships a TF-IDF vectorizer (unigrams, English stop words, l2 norm) and an
    ensemble of five linear SVMs, each with a sigmoid calibration. Loading them once, we fold
    each term's idf into the five weight vectors; the probabilities of a batch of sentences are
    then a term lookup per token and a few numpy reductions, equal to `predict_proba` (a unit
    test holds us to that) at a fraction of its cost.
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
        vocabulary: dict[str, int] = {str(t): int(i) for t, i in vectorizer.vocabulary_.items()}
        self._index = vocabulary
        self._idf: npt.NDArray[np.float64] = np.asarray(vectorizer.idf_, dtype=np.float64)
        coefs = np.stack([np.asarray(m.estimator.coef_[0], dtype=np.float64) for m in members])
        self._weights: npt.NDArray[np.float64] = (coefs * self._idf).T  # (terms, members)
        self._intercepts = np.array([float(m.estimator.intercept_[0]) for m in members])
        self._a = np.array([float(m.calibrators[0].a_) for m in members])
        self._b = np.array([float(m.calibrators[0].b_) for m in members])
        self._sklearn = (vectorizer, model)
        terms = sorted(vocabulary, key=vocabulary.__getitem__)
        alone = self.probabilities(terms)
        # Words that flag a sentence on their own: what a leetspeak spelling may stand for.
        self.offensive_words = frozenset(
            t for t, p in zip(terms, alone, strict=True) if p >= FLAG_AT and t.isalpha()
        )

    def probability(self, text: str) -> float:
        return float(self.probabilities([text])[0])

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return self._evaluate([(t.lower(), 0, len(t)) for t in texts])

    def _evaluate(self, pieces: Sequence[tuple[str, int, int]]) -> npt.NDArray[np.float64]:
        """Probability of each (lowercase text, start, end) slice, in one vectorised pass."""
        return self._evaluate_counted(pieces)[0]

    def _evaluate_counted(
        self, pieces: Sequence[tuple[str, int, int]]
    ) -> tuple[npt.NDArray[np.float64], list[int]]:
        """`_evaluate`'s probabilities, and each slice's number of word tokens."""
        index = self._index
        ids: list[int] = []
        lengths: list[int] = []
        for low, start, end in pieces:
            tokens = _TOKEN.findall(low, start, end)
            ids += map(index.get, tokens, repeat(-1, len(tokens)))
            lengths.append(len(tokens))
        n = len(pieces)
        term = np.asarray(ids, dtype=np.int64)
        sentence = np.repeat(np.arange(n), lengths)
        known = term >= 0
        term, sentence = term[known], sentence[known]
        # l2 norm of the tf-idf vector needs each term's count in its sentence.
        keys, counts = np.unique(sentence * len(index) + term, return_counts=True)
        norm2 = np.bincount(
            keys // len(index), weights=(counts * self._idf[keys % len(index)]) ** 2, minlength=n
        )
        scale = np.divide(1.0, np.sqrt(norm2), out=np.zeros(n), where=norm2 > 0)
        weights = self._weights[term]
        decisions = np.stack(
            [
                np.bincount(sentence, weights=weights[:, k], minlength=n)
                for k in range(ENSEMBLE_SIZE)
            ],
            axis=1,
        )
        z = self._a * (decisions * scale[:, None] + self._intercepts) + self._b
        probs: npt.NDArray[np.float64] = (1.0 / (1.0 + np.exp(np.minimum(z, 700.0)))).mean(axis=1)
        return probs, lengths

    def reference_probabilities(self, texts: Sequence[str]) -> list[float]:
        """sklearn's own predict_proba, for tests that check `probabilities` against it."""
        vectorizer, model = self._sklearn
        return [float(p) for p in model.predict_proba(vectorizer.transform(texts))[:, 1]]

    def read(self, text: str) -> tuple[Normalized, str]:
        """The normalised text, and the same with leetspeak spellings of offensive words read."""
        normalized = normalize(text)
        return normalized, unmask(normalized.text, self.offensive_words)

    def score(self, draft: Draft) -> SignalResult:
        return self.score_batch([draft])[0]

    def score_batch(self, drafts: Sequence[Draft]) -> list[SignalResult]:
        reads = [self.read(d.text) for d in drafts]
        # Each draft's sentences as slices of one lowercase text: its view, or (when a few
        # letters lowercase to two characters and offsets would shift) each slice on its own.
        texts: list[tuple[str, bool]] = []
        pieces: list[tuple[str, int, int]] = []
        offsets: list[list[tuple[int, int]]] = []
        for _, view in reads:
            low = view.lower()
            spans = list(sentences(view))
            texts.append((view if len(low) != len(view) else low, len(low) == len(view)))
            pieces += [_piece(*texts[-1], s, e) for s, e in spans]
            offsets.append(spans)
        alone_all, counts_all = self._evaluate_counted(pieces) if pieces else (np.zeros(0), [])

        runs: list[tuple[str, int, int]] = []
        chosen: list[list[int]] = []
        at = 0
        for (text, same), spans in zip(texts, offsets, strict=True):
            alone, counts = alone_all[at : at + len(spans)], counts_all[at : at + len(spans)]
            at += len(spans)
            mine: list[int] = []
            for i in sentences_to_read_in_context(alone, counts, MAX_CONTEXT_RUNS):
                lo, hi = context_run(counts, spans, i, CONTEXT_WORDS, MAX_RUN_CHARS)
                if (lo, hi) != (i, i):  # a run of the sentence alone would change nothing
                    mine.append(i)
                    runs.append(_piece(text, same, spans[lo][0], spans[hi][1]))
            chosen.append(mine)
        in_context = self._evaluate(runs) if runs else np.zeros(0)

        results = []
        at = run_at = 0
        for (normalized, _), spans, mine in zip(reads, offsets, chosen, strict=True):
            alone = alone_all[at : at + len(spans)]
            at += len(spans)
            scores = alone.copy()
            scores[mine] = np.minimum(alone[mine], in_context[run_at : run_at + len(mine)])
            run_at += len(mine)
            over = np.flatnonzero(scores >= FLAG_AT)
            flagged: list[SpanAt] = [
                span(*normalized.source_span(*spans[i]), f"offensive language (p={scores[i]:.2f})")
                for i in over
            ]
            worst = float(scores.max()) if len(spans) else 0.0
            details = {
                "sentences": len(spans),
                "flagged": len(over),
                "read_in_context": len(mine),
                "lowered_by_context": int(np.count_nonzero(scores < alone)),
            }
            results.append(SignalResult(worst, tuple(flagged), dict(details)))
        return results


def _piece(text: str, same_offsets: bool, start: int, end: int) -> tuple[str, int, int]:
    """The (lowercase text, start, end) slice `_evaluate` reads for [start, end) of a view."""
    return (text, start, end) if same_offsets else (text[start:end].lower(), 0, end - start)


def sentences_to_read_in_context(
    alone: npt.NDArray[np.float64], counts: Sequence[int], limit: int
) -> list[int]:
    """Sentences whose run is worth scoring: short ones (under SHORT_WORDS words, where the
    model reads noise) that are not clearly toxic alone, the `limit` highest first (the draft's
    value is its worst sentence, so those matter). A full sentence is judged on its own: a rude
    line must not be diluted by the polite ones around it."""
    short = np.asarray(counts) < SHORT_WORDS if len(counts) else np.zeros(0, dtype=bool)
    candidates = np.flatnonzero((alone < CLEARLY_TOXIC) & short)
    if len(candidates) > limit:
        candidates = candidates[np.argsort(-alone[candidates], kind="stable")[:limit]]
    return sorted(int(i) for i in candidates)


def context_run(
    counts: Sequence[int], spans: Sequence[tuple[int, int]], i: int, words: int, max_chars: int
) -> tuple[int, int]:
    """The first and last sentence of sentence i's run: neighbours added, the next one after
    then before, until the run has `words` words, a neighbour would take it past `max_chars`
    characters, or `words` neighbours were looked at (sentences without words are cheap too)."""
    lo = hi = i
    total = counts[i]
    for _ in range(words):
        if total >= words:
            break
        grew = False
        for side in (hi + 1, lo - 1):
            if 0 <= side < len(spans) and total < words:
                start, end = spans[min(lo, side)][0], spans[max(hi, side)][1]
                if end - start <= max_chars:
                    lo, hi = min(lo, side), max(hi, side)
                    total += counts[side]
                    grew = True
        if not grew:
            break
    return lo, hi


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


@cache
def _hostile_words() -> frozenset[str]:
    return frozenset(_hostile_lexicon())


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
    normalized = normalize(draft.text)
    lexicon = _hostile_lexicon()
    text = unmask(normalized.text, _hostile_words())
    low = text.lower()
    found: list[tuple[int, int, str]] = []
    if any(t in low for t in _CONDESCENSION_TRIGGERS):
        found = [
            (m.start(), m.end(), "condescending phrasing") for m in _CONDESCENSION.finditer(text)
        ]
    cues = len(found)
    hostile = 0.0
    # A set test on lowercase words first; then a pattern of just the hostile words present
    # finds their offsets without visiting every word of a long text.
    present = {w for w in set(_LETTERS.findall(low)) if w in lexicon}
    if present:
        # Whole words as signals/text.py's `words` reads them ("idiot's" is not "idiot").
        alternatives = "|".join(sorted(present))
        pattern = re.compile(rf"(?<![a-z'’-])(?:{alternatives})(?![a-z'’-])")
        for m in pattern.finditer(low):
            hostile += -lexicon[m.group()] / 4.0
            found.append((m.start(), m.end(), "hostile word"))
    value = max(saturate(cues, 0.5), saturate(hostile, 0.35))
    spans = [span(*normalized.source_span(s, e), label) for s, e, label in found]
    return SignalResult(
        value, tuple(spans), {"condescension_cues": cues, "hostility": round(hostile, 3)}
    )
