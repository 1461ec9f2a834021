"""Drift: a change detector on audited errors.

A Bernoulli CUSUM on the uniform audit sample's errors, tuned to detect a rise from the target
rate p0 to p1 = `ratio` * p0. When its statistic passes `h`, the router tightens to the safe
threshold, raises the audit rate and restarts the certificate from the change. (A nudge that
raised the serving threshold by 0.02 per audited escape used to sit in front of it; the
anytime-valid certificate needs no such correction, and it held thresholds far stricter than
certified: overconfident scenario 57.5 % reviewed with it, 38.1 % without.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DriftSettings:
    ratio: float = 3.0
    h: float = 8.0


def cusum_step(statistic: float, error: bool, target: float, settings: DriftSettings) -> float:
    """One update of the Bernoulli CUSUM log-likelihood-ratio statistic (never below 0)."""
    p0 = target
    p1 = min(0.999, settings.ratio * target)
    if error:
        llr = math.log(p1 / p0)
    else:
        llr = math.log((1 - p1) / (1 - p0))
    return max(0.0, statistic + llr)


def alarm(statistic: float, settings: DriftSettings) -> bool:
    return statistic >= settings.h
