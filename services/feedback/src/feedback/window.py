"""The retraining window: the newest examples, featurised as they are read, in flat arrays.

A retraining run reads up to `window` examples per partition of `retraining-feedback` and keeps
the newest `window` overall. Each example is boiled down on arrival to what training reads (the
scorer's features, its sparse hashed n-grams, label, weight, type, time) and appended to a few
growing typed arrays; the FeedbackExample is dropped at once. No Python object per row: a row
costs its numbers (~0.1 KB plus 6 bytes per distinct n-gram), not a row object, three small
arrays and a datetime (about 1 KB more, and allocations the heap keeps after the run).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from hitl_schemas import Draft, FeedbackExample, Score
from scorer.features import FEATURES, NGRAM_BUCKETS, NgramVector, features, ngram_vector
from scorer.signals.base import SignalResult

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def feature_row(example: FeedbackExample) -> dict[str, float]:
    """The scorer's features of an example, from the signals it was scored with."""
    return score_features(example.draft, example.score)


def score_features(draft: Draft, score: Score) -> dict[str, float]:
    """The scorer's features of a draft, from the signals of its Score."""
    results: dict[str, SignalResult | None] = {
        s.name: None if s.failed else SignalResult(s.value, (), dict(s.details))
        for s in score.signals
    }
    return features(draft, results)


def label(example: FeedbackExample) -> int:
    """What the model learns: 1 for approved unchanged (not is_error), else 0."""
    return 0 if example.is_error else 1


def weight(example: FeedbackExample) -> float:
    """Audited examples weigh 1/q, so the fit sees the traffic as it was, not as sampled."""
    return 1.0 / example.routing.audit_q if example.routing.audit else 1.0


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    """Rows in decision order, oldest first, column by column. The n-grams are CSR-like: row
    i's buckets are `ngram_buckets[ngram_indptr[i]:ngram_indptr[i + 1]]`."""

    types: tuple[str, ...]  # type_codes index this
    features: npt.NDArray[np.float64]  # (rows, len(FEATURES))
    type_codes: npt.NDArray[np.int32]
    labels: npt.NDArray[np.int8]
    weights: npt.NDArray[np.float64]
    decided_at: npt.NDArray[np.int64]  # microseconds since the Unix epoch
    ngram_indptr: npt.NDArray[np.int64]
    ngram_buckets: npt.NDArray[np.uint16]
    ngram_values: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: slice) -> Window:
        """Consecutive rows, as views of these arrays (no copy)."""
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise ValueError("a window slices consecutive rows only; use take() for others")
        stop = max(start, stop)
        first, last = self.ngram_indptr[start], self.ngram_indptr[stop]
        return Window(
            types=self.types,
            features=self.features[start:stop],
            type_codes=self.type_codes[start:stop],
            labels=self.labels[start:stop],
            weights=self.weights[start:stop],
            decided_at=self.decided_at[start:stop],
            ngram_indptr=self.ngram_indptr[start : stop + 1] - first,
            ngram_buckets=self.ngram_buckets[first:last],
            ngram_values=self.ngram_values[first:last],
        )

    def take(self, rows: npt.NDArray[np.intp]) -> Window:
        """The rows at these positions, in this order (a copy)."""
        starts, ends = self.ngram_indptr[rows], self.ngram_indptr[rows + 1]
        indptr = np.concatenate(([0], np.cumsum(ends - starts))).astype(np.int64)
        buckets = np.empty(int(indptr[-1]), dtype=np.uint16)
        values = np.empty(int(indptr[-1]), dtype=np.float32)
        # Row by row: an index array over every n-gram entry would cost 8 bytes an entry more
        # than the window itself, at the run's peak.
        for at, start, end in zip(
            indptr[:-1].tolist(), starts.tolist(), ends.tolist(), strict=True
        ):
            buckets[at : at + end - start] = self.ngram_buckets[start:end]
            values[at : at + end - start] = self.ngram_values[start:end]
        return Window(
            types=self.types,
            features=self.features[rows],
            type_codes=self.type_codes[rows],
            labels=self.labels[rows],
            weights=self.weights[rows],
            decided_at=self.decided_at[rows],
            ngram_indptr=indptr,
            ngram_buckets=buckets,
            ngram_values=values,
        )

    def content_type(self, row: int) -> str:
        return self.types[int(self.type_codes[row])]

    def content_types(self) -> list[str]:
        return [self.types[code] for code in self.type_codes.tolist()]

    def present_types(self) -> list[str]:
        """The content types that occur in these rows, sorted."""
        return sorted({self.types[code] for code in np.unique(self.type_codes).tolist()})

    def feature_map(self, row: int) -> dict[str, float]:
        return dict(zip(FEATURES, self.features[row].tolist(), strict=True))

    def ngrams(self, row: int) -> NgramVector:
        """Row `row`'s dense n-gram vector, as scorer.features.ngram_vector gave it."""
        start, end = self.ngram_indptr[row], self.ngram_indptr[row + 1]
        dense = np.zeros(NGRAM_BUCKETS)
        dense[self.ngram_buckets[start:end]] = self.ngram_values[start:end]
        return dense

    def decided(self, row: int) -> datetime:
        return _EPOCH + timedelta(microseconds=int(self.decided_at[row]))

    def nbytes(self) -> int:
        arrays: list[Any] = [
            self.features,
            self.type_codes,
            self.labels,
            self.weights,
            self.decided_at,
            self.ngram_indptr,
            self.ngram_buckets,
            self.ngram_values,
        ]
        return sum(int(a.nbytes) for a in arrays)


class WindowBuilder:
    """Appends featurised examples to typed arrays; keeps at most about 2 x `capacity` rows
    (then only the newest `capacity`), so memory is bounded whatever the stream's length."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self._type_of: dict[str, int] = {}
        self._reset()

    def _reset(self) -> None:
        self._features = array("d")
        self._type_codes = array("i")
        self._labels = array("b")
        self._weights = array("d")
        self._decided_at = array("q")
        self._ngram_counts = array("q")
        self._ngram_buckets = array("H")
        self._ngram_values = array("f")

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, example: FeedbackExample) -> None:
        self.add_row(
            feature_row(example),
            example.content_type,
            example.draft.text,
            label=label(example),
            weight=weight(example),
            decided_at=example.decided_at,
        )

    def add_row(
        self,
        named: Mapping[str, float],
        content_type: str,
        text: str,
        *,
        label: int,
        weight: float,
        decided_at: datetime,
    ) -> None:
        """One row from its parts: the scorer's features, the draft's type and text, the label
        (1 = acceptable as written), its weight and when it was decided."""
        self._features.extend(named[name] for name in FEATURES)
        code = self._type_of.setdefault(content_type, len(self._type_of))
        self._type_codes.append(code)
        self._labels.append(label)
        self._weights.append(weight)
        self._decided_at.append(_micros(decided_at))
        vector = ngram_vector(text)
        buckets = np.flatnonzero(vector)
        self._ngram_counts.append(len(buckets))
        self._ngram_buckets.frombytes(buckets.astype(np.uint16).tobytes())
        self._ngram_values.frombytes(vector[buckets].astype(np.float32).tobytes())
        if self.capacity is not None and len(self) >= 2 * self.capacity:
            self._keep(self.build())

    def extend(self, examples: Iterable[FeedbackExample]) -> WindowBuilder:
        for example in examples:
            self.add(example)
        return self

    def build(self) -> Window:
        """The newest `capacity` rows (all without one), oldest first."""
        counts = np.frombuffer(self._ngram_counts, dtype=np.int64)
        window = Window(
            types=tuple(self._type_of),
            features=np.frombuffer(self._features, dtype=np.float64).reshape(-1, len(FEATURES)),
            type_codes=np.frombuffer(self._type_codes, dtype=np.int32),
            labels=np.frombuffer(self._labels, dtype=np.int8),
            weights=np.frombuffer(self._weights, dtype=np.float64),
            decided_at=np.frombuffer(self._decided_at, dtype=np.int64),
            ngram_indptr=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            ngram_buckets=np.frombuffer(self._ngram_buckets, dtype=np.uint16),
            ngram_values=np.frombuffer(self._ngram_values, dtype=np.float32),
        )
        order = np.argsort(window.decided_at, kind="stable")
        if self.capacity is not None:
            order = order[-self.capacity :]
        return window.take(order)  # a copy: the builder's buffers go with the builder

    def _keep(self, window: Window) -> None:
        """Start again from `window`'s rows (the newest): the older ones are gone."""
        self._reset()
        self._features.frombytes(window.features.tobytes())
        self._type_codes.frombytes(window.type_codes.tobytes())
        self._labels.frombytes(window.labels.tobytes())
        self._weights.frombytes(window.weights.tobytes())
        self._decided_at.frombytes(window.decided_at.tobytes())
        self._ngram_counts.frombytes(np.diff(window.ngram_indptr).tobytes())
        self._ngram_buckets.frombytes(window.ngram_buckets.tobytes())
        self._ngram_values.frombytes(window.ngram_values.tobytes())


def newest(examples: Iterable[FeedbackExample], window: int | None = None) -> Window:
    """The `window` most recently decided examples (all when None), oldest first. Streams:
    never more than about 2 x `window` rows in memory, however many examples go by."""
    return WindowBuilder(window).extend(examples).build()


def type_columns(window: Window, types: Mapping[str, int]) -> npt.NDArray[np.int32]:
    """Each row's column in a design matrix whose content types are at `types`."""
    lookup = np.array([types[t] for t in window.types], dtype=np.int32)
    return lookup[window.type_codes]
