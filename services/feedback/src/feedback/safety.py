"""The bounds that keep a fitted combiner safe: one home, used by the shipped prior's builder
(`hitl-bench fit-prior`) and by every retraining run of the feedback service.

Unconstrained, a fit on human verdicts can learn that a risk signal barely matters (few of its
drafts reached a reviewer, or reviewers let a few through) and publish a model under which a
rude or leaking draft is auto-approved: an earlier unconstrained refit did exactly that. Each
risk feature's weight is held at or below a bound derived from the policy's own hard rules
(`risk_bounds`), and the producer features are held as the prior holds them (`FIXED_BOUNDS`).
"""

from __future__ import annotations

import math

from feedback.training import Bounds
from hitl_runtime.policy import Policy
from scorer.features import RISK_SIGNALS

RISK_FEATURES = (*RISK_SIGNALS, "grounding_unverifiable", "signals_failed")
# A risk signal firing takes at least RISK_DROP log-odds off (its weight <= -RISK_DROP / the
# level at which it fires), RISK_DROP_ALONE for a signal no hard rule of the policy reads
# (tone, commitments, form): nothing else holds a draft on it, so it must pull a clean draft's
# score below every default threshold by itself, text evidence and the calibration's steps
# included. The other risk features (grounding could not check the figures, a signal failed)
# weigh at most RISK_BOUND.
RISK_DROP = 3.0
RISK_DROP_ALONE = 4.5
RISK_BOUND = -1.0
# The other features' bounds. No producer confidence is not, by itself, a reason to hold a
# draft back (>= 0). The producer's logit counts at most one for one (a calibrated producer's
# own log-odds): the simulator's producer is more informative than a real model's confidence
# is known to be, and a confident producer must not outvote a risk signal. Length is fixed at 0:
# in these sets it tells the corpora apart (short comments, long articles), not good from bad.
FIXED_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "producer_absent": (0.0, None),
    "producer_logit": (0.0, 1.0),
    "log_chars": (0.0, 0.0),
}


def firing_levels(policy: Policy) -> dict[str, float]:
    """Per risk signal, the value at which it counts as firing: the lowest at which any of the
    policy's hard rules trips on it (the policy's own word that this much is a defect), else
    full strength (1)."""
    levels = dict.fromkeys(RISK_SIGNALS, 1.0)
    for ct in policy.content_types.values():
        for rule in ct.hard_rules:
            if rule.signal in levels:
                levels[rule.signal] = min(levels[rule.signal], rule.at_least)
    return levels


def risk_bounds(
    policy: Policy, *, decimals: int = 3
) -> dict[str, tuple[float | None, float | None]]:
    """The upper bound of each risk feature's weight: a signal firing (`firing_levels`) takes at
    least RISK_DROP log-odds off (RISK_DROP_ALONE when no hard rule reads it); the other risk
    features weigh at most RISK_BOUND."""
    levels = firing_levels(policy)
    ruled = {rule.signal for ct in policy.content_types.values() for rule in ct.hard_rules}
    scale = 10 ** (decimals + 1)  # rounded down to a stored precision: still kept once stored
    out: dict[str, tuple[float | None, float | None]] = {}
    for name in RISK_FEATURES:
        if name not in levels:
            out[name] = (None, RISK_BOUND)
            continue
        drop = RISK_DROP if name in ruled else RISK_DROP_ALONE
        out[name] = (None, math.floor(-drop / levels[name] * scale) / scale)
    return out


def safety_bounds(policy: Policy, *, decimals: int = 3) -> Bounds:
    """Every bound a fit of the combiner is held to under `policy` (`decimals`: the precision
    the fitted weights are stored at, see `risk_bounds`)."""
    return risk_bounds(policy, decimals=decimals) | FIXED_BOUNDS
