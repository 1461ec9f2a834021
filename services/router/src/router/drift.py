"""Drift: a change detector on every labelled draft above the threshold.

A Bernoulli CUSUM, tuned to tell "errors at the target" from "errors at `ratio` times it". Every
audit counts (the uniform part and the extra audits near the threshold alike), each against the
baseline of its own score bucket: the buckets' error shares so far, shrunk towards one another
and scaled so that their mean over the drafts above the threshold is the target (`baseline`).
An audit near the threshold, where errors are commoner, then weighs as little as it should; an
error far above it as much. When the statistic passes `h`, the router tightens to the safe
threshold, raises the audit rate and restarts the certificate from the change. (A nudge that
raised the serving threshold by 0.02 per audited escape used to sit in front of it; the
anytime-valid certificate needs no such correction, and it held thresholds far stricter than
certified.)

Whatever the baselines, a CUSUM of log-likelihood ratios raises a false alarm no more often
than once per e^h observations on average (Lorden) while the rates are at or under them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

PRIOR_VERDICTS = 20.0  # how many verdicts at the mean rate each bucket's share is shrunk with


@dataclass(frozen=True, slots=True)
class DriftSettings:
    ratio: float = 3.0
    h: float = 8.0


def baseline(
    labelled: NDArray[np.int64],
    errors: NDArray[np.int64],
    drafts: NDArray[np.int64],
    *,
    bucket: int,
    low: int,
    target: float,
) -> float:
    """The rate an audit in `bucket` is tested against, for drafts auto-approved from bucket
    `low` up: the buckets' error shares, each shrunk towards the pooled share by
    PRIOR_VERDICTS, scaled so that their mean over the drafts above `low` is the target."""
    tail = slice(low, len(drafts))
    pooled = (float(errors[tail].sum()) + target) / (float(labelled[tail].sum()) + 1.0)
    shares = (errors + PRIOR_VERDICTS * pooled) / (labelled + PRIOR_VERDICTS)
    weights = drafts[tail]
    mean = float(np.dot(weights, shares[tail]) / weights.sum()) if weights.sum() else pooled
    return float(min(0.5, target * shares[bucket] / mean))


def cusum_step(statistic: float, error: bool, p0: float, settings: DriftSettings) -> float:
    """One update of the Bernoulli CUSUM log-likelihood-ratio statistic (never below 0), for an
    observation whose rate is p0 without drift and `ratio` * p0 with it."""
    p1 = min(0.999, settings.ratio * p0)
    if error:
        llr = math.log(p1 / p0)
    else:
        llr = math.log((1 - p1) / (1 - p0))
    return max(0.0, statistic + llr)


def alarm(statistic: float, settings: DriftSettings) -> bool:
    return statistic >= settings.h
