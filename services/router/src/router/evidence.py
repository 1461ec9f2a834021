"""Per-content-type evidence by score bucket, and the anytime-valid certificate it feeds.

For a candidate threshold t, the escape rate is the share of errors among the eligible drafts
scoring at least t (those t would auto-approve). Every eligible draft the router routes counts,
seen by a human or not: it is one observation of the betting e-process in `router.confseq`
(x = error / q if a human labelled it, 0 if nobody looked). Its log-growth is added to the
draft's score bucket; a candidate's e-value is the mixture over the sums of the buckets at and
above it. Nothing is decayed or thrown away: a change point (a drift alarm) starts a new
`Evidence`, the only way the certificate restarts.

Delay. Verdicts come late, and rejects later than approvals; a test fed verdicts as they come
would be optimistic. Two e-processes are kept, each valid on its own, and a candidate is
certified when either reaches 2/delta (so together they are wrong at most delta):
- *now*: every draft routed so far, in the order the learner heard of it, a draft still waiting
  for its verdict counted as an error (x = 1/q, the worst it can be). At most what it would be
  with every verdict known; quick while few verdicts are outstanding.
- *in routing order*: drafts grouped in slices of routing time (`SLICES` of them span the type's
  `verdict_wait`), fed slice by slice once every verdict of a slice is in, or once the slice is
  `verdict_wait` old (its missing verdicts then count as errors for good). Exact, a slice late;
  no outstanding verdict weighs on it.
A draft heard of after its slice was fed is left out of both, and so is its verdict; a verdict
with no draft waiting for it in its slice, bucket and bet class was not routed here: refused.

Bets. Drafts routed while every draft of the type is reviewed (review-all: q = 1 for each) bet
with q_min = 1; those routed while the type audits at its monitor rate with q_min = that rate;
all the others with q_min = the audit floor, the smallest q a draft above the threshold can
have then. The class is fixed by the mode and audit phase the draft was routed in, before its
verdict, never by its own score or q. An audit's q is rounded down to a 10 % grid (`_grid`): its
error then weighs up to 10 % more than 1/q, never less, and the slices stay small.

Fixed-sequence walk (Learn-then-Test): candidates from strict to loose; a candidate is certified
once its e-value has ever crossed, and the walk stops at the first that has not. It starts at
the strictest candidate that ever crossed, or else at the first with enough drafts above it to
ever cross (`needed`): the strictest thresholds often have a handful of drafts above them and
would end the walk before it began. Where it starts depends on how many drafts scored above
each candidate, never on their verdicts.

Plain data, no Kafka: the faust learner and the offline replay call the same functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from router.confseq import KIND, RATIOS, clean_drafts_to_certify, log_growth, log_mixture

BUCKETS = 100
J = len(RATIOS)
MIXTURE_COST = math.log(J)  # nats the mixture pays against its best bet
FLOOR_BETS, REVIEW_ALL_BETS, MONITOR_BETS = 0, 1, 2  # a draft's bet class
SLICES = 60  # slices of routing time in one verdict_wait
_GRID = 1.1
_COUNTS = ("drafts", "labelled", "errors", "audits", "audit_errors")


def bucket_of(score: float) -> int:
    """Bucket i holds scores in [i/100, (i+1)/100); a score of exactly 1.0 joins bucket 99."""
    return min(BUCKETS - 1, max(0, int(score * BUCKETS + 1e-9)))


def slice_of(seconds: float, verdict_wait: timedelta) -> int:
    """The routing-time slice of a draft routed at `seconds` (since the epoch)."""
    return int(seconds // (verdict_wait.total_seconds() / SLICES))


def _grid(q: float, q_min: float) -> float:
    """q rounded down to the grid q_min * 1.1^k (1 stays 1): never above q."""
    if q >= 1.0:
        return 1.0
    k = math.floor(math.log(max(q, q_min) / q_min) / math.log(_GRID) + 1e-9)
    return min(q, round(q_min * _GRID**k, 12))


@lru_cache(maxsize=4096)
def _growth(target: float, q_min: float, x: float) -> NDArray[np.float64]:
    growth = log_growth(target, q_min, x)
    growth.flags.writeable = False  # shared by every caller of the cache
    return growth


@dataclass
class Cell:
    """The drafts of one slice, bucket and bet class."""

    zero: int = 0  # x = 0: auto-approved unseen, or a clean verdict
    pending: dict[float, int] = field(default_factory=dict)  # grid q -> verdicts not in
    errors: dict[float, int] = field(default_factory=dict)  # grid q -> error verdicts


Slice = dict[tuple[int, int], Cell]  # (bucket, bet class) -> cell


@dataclass
class Evidence:
    """What the drafts routed since `since_version` say about each score bucket."""

    target: float
    floor: float  # q_min of the drafts routed outside review-all, exploring
    monitor: float  # q_min of the drafts routed while monitoring
    since_version: int = 0  # drafts routed under an older threshold version are not counted
    counts: dict[str, NDArray[np.int64]] = field(
        default_factory=lambda: {name: np.zeros(BUCKETS, dtype=np.int64) for name in _COUNTS}
    )
    weighted_errors: NDArray[np.float64] = field(default_factory=lambda: np.zeros(BUCKETS))
    closed: NDArray[np.float64] = field(default_factory=lambda: np.zeros((BUCKETS, J)))
    open: NDArray[np.float64] = field(default_factory=lambda: np.zeros((BUCKETS, J)))
    slices: dict[int, Slice] = field(default_factory=dict)  # open slices by index
    closed_through: int = -1  # slices up to this index have been fed in routing order
    crossed: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(BUCKETS, dtype=bool))

    def q_min(self, bets: int) -> float:
        return {REVIEW_ALL_BETS: 1.0, MONITOR_BETS: self.monitor}.get(bets, self.floor)

    def counts_version(self, version: int) -> bool:
        """Do drafts routed under this threshold version belong to this certificate?"""
        return version >= self.since_version

    def total(self, name: str) -> int:
        return int(self.counts[name].sum())

    def tail_drafts(self, threshold: float) -> int:
        return int(self.counts["drafts"][bucket_of(threshold) :].sum())

    def estimate(self, threshold: float) -> float | None:
        """The Horvitz-Thompson escape rate above a threshold, verdicts so far (display and the
        breach check: a pending draft counts 0 here)."""
        drafts, rates = self.tails(np.asarray([bucket_of(threshold)], dtype=np.intp))
        return float(rates[0]) if drafts[0] else None

    def tails(self, buckets: NDArray[np.intp]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """For each bucket, the drafts at and above it and their Horvitz-Thompson escape rate
        (0 where there are none)."""
        drafts = np.cumsum(self.counts["drafts"][::-1])[::-1][buckets]
        errors = np.cumsum(self.weighted_errors[::-1])[::-1][buckets]
        return drafts, np.minimum(1.0, errors / np.maximum(drafts, 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "target": self.target,
            "floor": self.floor,
            "monitor": self.monitor,
            "since_version": self.since_version,
            "counts": {name: values.tolist() for name, values in self.counts.items()},
            "weighted_errors": self.weighted_errors.tolist(),
            "closed": self.closed.tolist(),
            "slices": [
                [
                    index,
                    [
                        [b, k, c.zero, list(c.pending.items()), list(c.errors.items())]
                        for (b, k), c in cells.items()
                    ],
                ]
                for index, cells in self.slices.items()
            ],  # fmt: skip
            "closed_through": self.closed_through,
            "crossed": self.crossed.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Read back `to_dict`; anything malformed raises ValueError."""
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ValueError(f"not evidence of kind {KIND!r}")
        try:
            ev = cls(
                target=float(data["target"]),
                floor=float(data["floor"]),
                monitor=float(data["monitor"]),
                since_version=int(data["since_version"]),
                counts={n: _array(data["counts"][n], np.int64, (BUCKETS,)) for n in _COUNTS},
                weighted_errors=_array(data["weighted_errors"], np.float64, (BUCKETS,)),
                closed=_array(data["closed"], np.float64, (BUCKETS, J)),
                slices={
                    int(index): {
                        (int(b), _bet_class(k)): Cell(int(zero), _qs(pending), _qs(errors))
                        for b, k, zero, pending, errors in cells
                    }
                    for index, cells in data["slices"]
                },
                closed_through=int(data["closed_through"]),
                crossed=_array(data["crossed"], np.bool_, (BUCKETS,)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed evidence: {exc!r}") from None
        ev.open = _open_growth(ev)
        return ev


def _array(values: Any, dtype: Any, shape: tuple[int, ...]) -> Any:
    array = np.asarray(values, dtype=dtype)
    if array.shape != shape or not np.isfinite(array.astype(np.float64)).all():
        raise ValueError(f"expected {shape} finite numbers, got shape {array.shape}")
    return array


def _bet_class(value: Any) -> int:
    if int(value) not in (FLOOR_BETS, REVIEW_ALL_BETS, MONITOR_BETS):
        raise ValueError(f"unknown bet class {value!r}")
    return int(value)


def _qs(pairs: Any) -> dict[float, int]:
    out = {float(q): int(n) for q, n in pairs}
    if any(not 0.0 < q <= 1.0 or n < 0 for q, n in out.items()):
        raise ValueError(f"q must be in (0, 1] and counts >= 0, got {pairs!r}")
    return out


def _slice_growth(ev: Evidence, cells: Slice) -> NDArray[np.float64]:
    growth = np.zeros((BUCKETS, J))
    for (i, bets), cell in cells.items():
        q_min = ev.q_min(bets)
        growth[i] += cell.zero * _growth(ev.target, q_min, 0.0)
        for table in (cell.pending, cell.errors):
            for q, n in table.items():
                growth[i] += n * _growth(ev.target, q_min, 1.0 / q)
    return growth


def _open_growth(ev: Evidence) -> NDArray[np.float64]:
    return sum((_slice_growth(ev, cells) for cells in ev.slices.values()), np.zeros((BUCKETS, J)))


def bettable(ev: Evidence, bets: int, q: float) -> bool:
    """Can a draft reviewed with probability q be counted in this bet class? Not below its
    q_min: an error would then weigh more than the bets can take."""
    return q >= ev.q_min(bets) * (1 - 1e-9)


def routed(
    ev: Evidence, *, at: int, score: float, q: float, bets: int, reviewed: bool, drafts: int = 1
) -> bool:
    """`drafts` eligible drafts routed in slice `at` at this score with review probability q;
    `reviewed`: sent to a human (errors until their verdicts come), else auto-approved unseen.
    False when their slice was fed already, or q is below their bet class's q_min (an error
    would then weigh more than the bets can take): they are left out."""
    q_min = ev.q_min(bets)
    if drafts <= 0 or at <= ev.closed_through or not bettable(ev, bets, q):
        return False
    i = bucket_of(score)
    ev.counts["drafts"][i] += drafts
    cell = ev.slices.setdefault(at, {}).setdefault((i, bets), Cell())
    if reviewed:
        key = _grid(q, q_min)
        cell.pending[key] = cell.pending.get(key, 0) + drafts
        ev.open[i] += drafts * _growth(ev.target, q_min, 1.0 / key)
    else:
        cell.zero += drafts
        ev.open[i] += drafts * _growth(ev.target, q_min, 0.0)
    return True


def verdict(
    ev: Evidence, *, at: int, score: float, q: float, bets: int, audit: bool, error: bool
) -> bool:
    """A human verdict on a draft routed for review in slice `at`; False (nothing learnt) when
    no draft of its slice, bucket and bet class is waiting for one."""
    i, q_min = bucket_of(score), ev.q_min(bets)
    key = _grid(q, q_min)
    cell = ev.slices.get(at, {}).get((i, bets))
    if cell is None or cell.pending.get(key, 0) <= 0:
        return False
    cell.pending[key] -= 1
    if not cell.pending[key]:
        del cell.pending[key]
    if error:
        cell.errors[key] = cell.errors.get(key, 0) + 1
    else:
        cell.zero += 1
        ev.open[i] += _growth(ev.target, q_min, 0.0) - _growth(ev.target, q_min, 1.0 / key)
    c = ev.counts
    c["labelled"][i] += 1
    c["errors"][i] += int(error)
    c["audits"][i] += int(audit)
    c["audit_errors"][i] += int(audit and error)
    ev.weighted_errors[i] += 1.0 / q if error else 0.0
    return True


def close(ev: Evidence, *, now: int) -> None:
    """Feed, in routing order, the open slices whose verdicts are all in or that are SLICES
    old. The slice now and the one before may still get drafts (a route batch in flight)."""
    done = False
    for index in sorted(ev.slices):
        cells = ev.slices[index]
        if index >= now - 1:
            break
        waiting = any(cell.pending for cell in cells.values())
        if waiting and now - index < SLICES:
            break
        ev.closed += _slice_growth(ev, cells)
        del ev.slices[index]
        ev.closed_through, done = index, True
    if done:
        ev.open = _open_growth(ev)  # summed again, not subtracted: no drift


@dataclass(frozen=True, slots=True)
class Walk:
    threshold: float | None  # the loosest certified candidate, None if none is
    log_e: tuple[float, ...]  # each candidate's larger log e-value now, in candidate order
    best: tuple[float, ...]  # each candidate's largest log capital of a single bet now


def needed(target: float, delta: float) -> int:
    """Drafts above a candidate before it could cross at all (all clean, review-all bets)."""
    return _needed(target, delta)


@lru_cache(maxsize=256)
def _needed(target: float, delta: float) -> int:
    return clean_drafts_to_certify(target, delta / 2, 1.0)


def line(delta: float) -> float:
    """The log e-value either process must reach: each is held to delta / 2."""
    return math.log(2.0 / delta)


def walk(ev: Evidence, candidates: tuple[float, ...], delta: float) -> Walk:
    """Mark the candidates whose e-value reaches the line now (for good), then walk them."""
    indices = _indices(candidates)
    closed = np.cumsum(ev.closed[::-1], axis=0)[::-1][indices]
    now = closed + np.cumsum(ev.open[::-1], axis=0)[::-1][indices]
    log_e = np.maximum(log_mixture(closed), log_mixture(now))
    best = np.maximum(closed.max(axis=-1), now.max(axis=-1))
    ev.crossed[indices[log_e >= line(delta)]] = True
    crossed = ev.crossed[indices]
    if crossed.any():
        start = int(np.argmax(crossed))
    else:
        drafts = np.cumsum(ev.counts["drafts"][::-1])[::-1][indices]
        enough = drafts >= needed(ev.target, delta)
        start = int(np.argmax(enough)) if enough.any() else len(indices)
    stop = start
    while stop < len(indices) and crossed[stop]:
        stop += 1
    certified = candidates[stop - 1] if stop > start else None
    return Walk(certified, tuple(log_e.tolist()), tuple(best.tolist()))


@lru_cache(maxsize=16)
def _indices(candidates: tuple[float, ...]) -> NDArray[np.intp]:
    return np.asarray([bucket_of(t) for t in candidates], dtype=np.intp)


def log_e_now(ev: Evidence, threshold: float) -> float:
    """The e-process that counts outstanding verdicts as errors, above a threshold."""
    i = bucket_of(threshold)
    return float(log_mixture(ev.closed[i:].sum(axis=0) + ev.open[i:].sum(axis=0)))


def certified_at(ev: Evidence, threshold: float) -> bool:
    return bool(ev.crossed[bucket_of(threshold)])
