"""Per-content-type review evidence by score bucket, with exponential decay.

Decay is lazy: instead of shrinking every count at every verdict, new evidence is added with a
weight that grows by 1/gamma per verdict, and counts are read back divided by the current
weight. An update stays O(1); the stored numbers are renormalised before they could overflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from router.certify import Tail

BUCKETS = 100
_FIELDS = (
    "reviewed",
    "reviewed_errors",
    "sampled",
    "sampled_errors",
    "w_items",
    "w_errors",
    "audits",
    "audit_errors",
    "errors",
    "labelled",
)


def bucket_of(score: float) -> int:
    """Bucket i holds scores in [i/100, (i+1)/100); a score of exactly 1.0 joins bucket 99."""
    return min(BUCKETS - 1, max(0, int(score * BUCKETS + 1e-9)))


@dataclass
class Ledger:
    half_life: float
    floor: float = 0.02
    scale: float = 1.0
    counts: dict[str, list[float]] = field(
        default_factory=lambda: {name: [0.0] * BUCKETS for name in _FIELDS}
    )

    def record(self, score: float, *, q: float, error: bool, audit: bool, uniform: bool) -> None:
        """One human verdict on a draft that scored `score`, reviewed with probability q;
        `uniform`: an audit drawn by the floor rate alone."""
        self.scale /= 0.5 ** (1.0 / self.half_life)
        if self.scale > 1e120:
            self._renormalise()
        i, w, c = bucket_of(score), self.scale, self.counts
        e = w if error else 0.0
        c["labelled"][i] += w
        c["errors"][i] += e
        c["w_items"][i] += w / q
        c["w_errors"][i] += e / q
        if not audit:
            c["reviewed"][i] += w
            c["reviewed_errors"][i] += e
        else:
            c["audits"][i] += w
            c["audit_errors"][i] += e
            if uniform:
                c["sampled"][i] += w
                c["sampled_errors"][i] += e

    def _renormalise(self) -> None:
        self.counts = {k: [v / self.scale for v in vs] for k, vs in self.counts.items()}
        self.scale = 1.0

    def total(self, name: str) -> float:
        return float(sum(self.counts[name])) / self.scale

    def tails(self, thresholds: list[float]) -> list[Tail]:
        """The evidence above each threshold, from one pass of suffix sums."""
        suffix = {}
        for name, values in self.counts.items():
            acc, running = [0.0] * (BUCKETS + 1), 0.0
            for i in range(BUCKETS - 1, -1, -1):
                running += values[i]
                acc[i] = running
            suffix[name] = acc
        s = self.scale
        return [
            Tail(
                reviewed=suffix["reviewed"][i] / s,
                reviewed_errors=suffix["reviewed_errors"][i] / s,
                sampled=suffix["sampled"][i] / s,
                sampled_errors=suffix["sampled_errors"][i] / s,
                floor=self.floor,
                weighted_items=suffix["w_items"][i] / s,
                weighted_errors=suffix["w_errors"][i] / s,
            )
            for i in (bucket_of(t) for t in thresholds)
        ]

    def to_dict(self) -> dict[str, Any]:
        self._renormalise()
        return {"half_life": self.half_life, "floor": self.floor, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        return cls(half_life=data["half_life"], floor=data["floor"], counts=data["counts"])
