"""Certified thresholds: the loosest threshold whose escape rate is provably under target.

For a candidate threshold t, the escape rate is the error rate of the eligible drafts scoring at
least t (those that would be auto-approved). Two kinds of verdict speak about them:
- drafts that were reviewed with certainty (below the serving threshold when routed, or while
  a type is reviewed in full): a complete record of their part of the score range;
- the uniform audit sample above the serving threshold: every eligible draft there was audited
  with the same probability `floor` (drafts whose audit number u < floor), a simple random
  sample. The extra audits drawn near the threshold are left out of the bound (they are not a
  uniform sample) but count in the point estimate through inverse-probability weights.

Upper confidence bound at level delta:
- one kind of verdict only: the exact one-sided Clopper-Pearson bound, equivalent to the exact
  binomial test P(Bin(n, target) <= errors) <= delta;
- both: each part's Clopper-Pearson bound at delta/2 (Bonferroni), mixed by their estimated
  share of drafts (the uniform sample stands for n/floor drafts).
A candidate is certified when its bound is at most the target. Candidates are tested from
strict to loose at the same level and the walk stops at the first failure (fixed-sequence
testing), so the guarantee holds across all candidates at once.

No faust, no Kafka: plain functions over plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.special import bdtr, betaincinv


@dataclass(frozen=True, slots=True)
class Tail:
    """Evidence about the eligible drafts scoring at least a candidate threshold (decayed)."""

    reviewed: float  # verdicts on drafts reviewed with certainty
    reviewed_errors: float
    sampled: float  # verdicts from the uniform audit sample
    sampled_errors: float
    floor: float  # the uniform sample's probability
    weighted_items: float = 0.0  # sum of 1/q over every verdict: for the point estimate
    weighted_errors: float = 0.0

    @property
    def labelled(self) -> float:
        return self.reviewed + self.sampled


def _counts(n: float, k: float) -> tuple[int, int]:
    """Fractional (decayed) counts rounded against us: fewer trials, more errors."""
    return math.floor(n), min(math.floor(n), math.ceil(k - 1e-9))


def clopper_pearson_upper(n: float, k: float, delta: float) -> float:
    """One-sided upper confidence bound at level delta on a binomial rate."""
    trials, errors = _counts(n, k)
    if trials <= 0 or errors >= trials:
        return 1.0
    return float(betaincinv(errors + 1, trials - errors, 1.0 - delta))


def binomial_p_value(n: float, k: float, target: float) -> float:
    """P(Bin(n, target) <= k): the exact test of "rate >= target"."""
    trials, errors = _counts(n, k)
    if trials <= 0:
        return 1.0
    return float(bdtr(errors, trials, target))


def upper_bound(tail: Tail, delta: float) -> float | None:
    if tail.labelled < 1:
        return None
    if tail.sampled < 1:
        return clopper_pearson_upper(tail.reviewed, tail.reviewed_errors, delta)
    if tail.reviewed < 1:
        return clopper_pearson_upper(tail.sampled, tail.sampled_errors, delta)
    reviewed_share = tail.reviewed / (tail.reviewed + tail.sampled / tail.floor)
    return reviewed_share * clopper_pearson_upper(
        tail.reviewed, tail.reviewed_errors, delta / 2
    ) + (1 - reviewed_share) * clopper_pearson_upper(tail.sampled, tail.sampled_errors, delta / 2)


def escape_estimate(tail: Tail) -> float | None:
    if tail.weighted_items <= 0:
        return None
    return min(1.0, tail.weighted_errors / tail.weighted_items)


@dataclass(frozen=True, slots=True)
class Certification:
    threshold: float | None  # the loosest certified candidate, None if none could be
    bounds: tuple[float, ...]  # upper bounds of the candidates tested, in order


def minimum_clean_audits(target: float, delta: float) -> int:
    """Clean verdicts needed before any threshold can be certified: (1 - target)^n <= delta."""
    return math.ceil(math.log(delta) / math.log(1.0 - target))


def fixed_sequence(
    candidates: Sequence[float], tails: Sequence[Tail], target: float, delta: float
) -> Certification:
    """Walk candidates from strict to loose; stop at the first that cannot be certified.

    The walk starts at the first candidate with enough verdicts above it that it could pass at
    all (`minimum_clean_audits`): the strictest thresholds often have a handful of drafts above
    them and would end the walk before it began. Skipping them looks only at how many verdicts
    there are, never at how many were errors, so the order is fixed before the outcomes are
    seen and the fixed-sequence guarantee holds.
    """
    needed = minimum_clean_audits(target, delta)
    certified: float | None = None
    bounds: list[float] = []
    for threshold, tail in zip(candidates, tails, strict=True):
        if not bounds and tail.labelled < needed:
            continue
        bound = upper_bound(tail, delta)
        bounds.append(1.0 if bound is None else bound)
        if bounds[-1] > target:
            break
        certified = threshold
    return Certification(certified, tuple(bounds))
