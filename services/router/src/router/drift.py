"""Drift: a fast correction between certifications, and a change detector on audited errors.

- Nudge: each escape in the uniform audit sample raises the serving threshold by `up`; each
  clean one lowers the extra by up * target / (1 - target), so the nudge drifts up only while
  escapes run above the target; the serving threshold is never looser than the certified one.
- Bernoulli CUSUM on the audited error stream, tuned to detect a rise from the target rate p0
  to p1 = `ratio` * p0. When its statistic passes `h`, the router tightens to the safe
  threshold, raises the audit rate and re-certifies on post-change evidence only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DriftSettings:
    up: float = 0.02
    max_nudge: float = 0.10
    ratio: float = 3.0
    h: float = 8.0


def nudge(current: float, escaped: bool, target: float, settings: DriftSettings) -> float:
    if escaped:
        return min(settings.max_nudge, current + settings.up)
    return max(0.0, current - settings.up * target / (1.0 - target))


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
