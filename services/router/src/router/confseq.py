"""An anytime-valid certificate that a content type's escape rate is under its target.

What is tested. Take the drafts a threshold would auto-approve, in routing order. A human
sees each one with a probability q that is fixed before the verdict: 1 for a draft that is
reviewed anyway, the audit rate otherwise. The escape rate mu is the share of these drafts that
a human would reject or edit heavily. Each draft gives the importance-weighted observation

    x = error / q   if a human labelled it,    x = 0 if nobody looked,

and the mean of x is mu whatever the q's are: the sampling design makes it unbiased, not a
model. A draft that nobody looked at is evidence too, in proportion to the chance it had of
being looked at. Feeding only the labelled drafts would be wrong.

The certificate tests H0: mu >= target ("the rate is too high"). It may be looked at after
every draft and stopped at any time; certifying the first time it passes is wrong with
probability at most delta, whatever rule decided when to look or stop.

How: testing by betting (Waudby-Smith & Ramdas, "Estimating means of bounded random variables
by betting", JRSS-B 2023), with importance-weighted observations as in the off-policy
confidence sequences of Waudby-Smith, Wu, Ramdas, Karampatziakis & Mineiro. A bettor starts
with capital 1. Before each draft it stakes lambda >= 0 on "x comes in under the target":
capital *= 1 + lambda * (target - x). Under H0 each factor has mean 1 + lambda * (target - mu)
<= 1, so the capital is a nonnegative supermartingale. Ville's inequality then gives
P(the capital ever reaches 1/delta) <= delta.

The bets. lambda must be fixed before the draft is seen, so it may not depend on that draft's
q: q follows the draft's score, and the score is related to the error, so a bet sized by q
would test a q-weighted rate, not the escape rate. The capital stays positive for every
x <= 1 / q_min when lambda < q_min / (1 - target * q_min) = lambda_max, where q_min is the
smallest probability the sampling design can give (the audit floor; 1 when every draft is
reviewed). We place bets lambda_j = (1 - r_j) * lambda_max on a fixed grid of ratios r_j and
average the J capitals; an average of test supermartingales is one ("diversified Kelly" in
Waudby-Smith & Ramdas).

When every draft has q = q_min, bet j is exactly the likelihood ratio of "rate = r_j * target"
against "rate = target": a clean or unlabelled draft multiplies it by
(1 - q r_j target) / (1 - q target), an error by r_j. So it is the Kelly-optimal bet when the
true rate is r_j * target. The grid runs from 3/4 down to 1/64 of the target, covering true
rates from 0 to 0.75 * target, and pays at most ln(J) nats for not knowing which one is
right. No estimate is kept: the state is J numbers plus counts, O(J) per draft, no history.

The bets shrink with q_min, and so does what each clean draft earns. The certificate's speed
is set by the smallest audit rate in force, not by the average one. The floor may change
between drafts (`with_q_min`), for example during an audit boost.

A change point (a drift alarm) restarts the certificate (`restart`): the evidence from before
the change says nothing about the rate after it.

Verdicts must be fed in routing order, a pending verdict included. Feeding drafts as their
verdicts arrive, with slow rejects arriving last, would make the test optimistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

KIND = "escape-eprocess-v1"  # names the bet grid: a state stored with another grid is refused
RATIOS = (3 / 4, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64)
_LOG_J = math.log(len(RATIOS))


@dataclass(frozen=True, slots=True)
class EscapeCertificate:
    """The betting e-process of one content type (or candidate threshold) since its start."""

    target: float
    q_min: float
    drafts: int = 0  # drafts seen, labelled or not
    labelled: int = 0
    errors: int = 0
    weighted_errors: float = 0.0  # sum of x: the importance-weighted error count
    log_capital: tuple[float, ...] = (0.0,) * len(RATIOS)
    peak_log_e: float = 0.0  # the largest log e-value so far: a crossing is never taken back


def _check_rate(name: str, value: float, *, closed_right: bool = False) -> float:
    ok = _finite(value) and (0.0 < value <= 1.0 if closed_right else 0.0 < value < 1.0)
    if not ok:
        interval = "(0, 1]" if closed_right else "(0, 1)"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def fresh(target: float, q_min: float = 1.0) -> EscapeCertificate:
    """A certificate with no evidence (capital 1) for H0: escape rate >= target.

    q_min: the smallest sampling probability any draft fed to it can have. Smaller means
    smaller bets; with q_min = 1 every draft must be reviewed."""
    return EscapeCertificate(
        target=_check_rate("target", target), q_min=_check_rate("q_min", q_min, closed_right=True)
    )


def restart(state: EscapeCertificate) -> EscapeCertificate:
    """A fresh certificate for the same target and design, e.g. from a change point."""
    return fresh(state.target, state.q_min)


def with_q_min(state: EscapeCertificate, q_min: float) -> EscapeCertificate:
    """The same evidence, with bets sized for a new smallest sampling probability from the
    next draft on. This is valid when the floor is set before the next draft is seen (a
    policy's audit floor, raised during an audit boost), never from the draft itself."""
    return replace(state, q_min=_check_rate("q_min", q_min, closed_right=True))


def bets(target: float, q_min: float) -> NDArray[np.float64]:
    """The J stakes lambda_j = (1 - r_j) * q_min / (1 - target * q_min)."""
    lambda_max = q_min / (1.0 - target * q_min)
    return (1.0 - np.asarray(RATIOS)) * lambda_max


def log_growth(target: float, q_min: float, x: ArrayLike) -> NDArray[np.float64]:
    """log(1 + lambda_j * (target - x)) for each observation x (any shape) and bet j (last
    axis). Shared by `update` and by the vectorised simulations, so both test the same code."""
    return np.log1p(
        np.multiply.outer(target - np.asarray(x, dtype=np.float64), bets(target, q_min))
    )


def log_mixture(log_capital: ArrayLike) -> NDArray[np.float64]:
    """log of the e-value, the average of the J capitals (bets on the last axis); a 0-d array
    for one state."""
    values = np.asarray(log_capital, dtype=np.float64)
    top = values.max(axis=-1, keepdims=True)
    return np.asarray(top[..., 0] + np.log(np.exp(values - top).sum(axis=-1)) - _LOG_J)


def update(state: EscapeCertificate, *, q: float, error: bool | None) -> EscapeCertificate:
    """One more routed draft. q: the probability a human would see it, fixed before its
    verdict, in [q_min, 1]. error: the verdict (True: rejected or heavily edited), None when no
    human saw it (auto-approved)."""
    q = _check_rate("q", q, closed_right=True)
    if q < state.q_min:
        raise ValueError(
            f"q = {q} is below this certificate's q_min = {state.q_min}: its error could "
            "bankrupt the bets; start the certificate with the design's smallest q"
        )
    if error is not None and not isinstance(error, bool):
        raise ValueError(f"error must be True, False or None, got {error!r}")
    x = 1.0 / q if error else 0.0
    growth = log_growth(state.target, state.q_min, x)
    log_capital = tuple(float(c + g) for c, g in zip(state.log_capital, growth, strict=True))
    return replace(
        state,
        drafts=state.drafts + 1,
        labelled=state.labelled + (error is not None),
        errors=state.errors + bool(error),
        weighted_errors=state.weighted_errors + x,
        log_capital=log_capital,
        peak_log_e=max(state.peak_log_e, float(log_mixture(log_capital))),
    )


def e_value(state: EscapeCertificate) -> float:
    """The current evidence against "rate >= target" (1 = none; it can fall again)."""
    return math.exp(float(log_mixture(state.log_capital)))


def certified(state: EscapeCertificate, delta: float) -> bool:
    """Has the e-value ever reached 1/delta? If so the escape rate is under the target, with
    probability at least 1 - delta of being right, however long the test ran."""
    return state.peak_log_e >= math.log(1.0 / _check_rate("delta", delta))


def estimate(state: EscapeCertificate) -> float | None:
    """The unbiased (Horvitz-Thompson) estimate of the escape rate, for display."""
    return state.weighted_errors / state.drafts if state.drafts else None


def clean_drafts_to_certify(target: float, delta: float, q_min: float = 1.0) -> int:
    """How many drafts without a single error it takes to certify. With q_min = 1 these are
    verdicts; an ideal bettor that knew the rate is 0 needs ln(1/delta) / -ln(1 - target)."""
    fresh(target, q_min)  # checks both
    needed = math.log(1.0 / _check_rate("delta", delta))
    per_draft = log_growth(target, q_min, 0.0)

    def log_e(n: int) -> float:
        return float(log_mixture(n * per_draft))

    high = 1
    while log_e(high) < needed:
        high *= 2
    low = high // 2  # log_e grows with n: the first n that crosses lies in (low, high]
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if log_e(middle) < needed else (low, middle)
    return high


def expected_growth(target: float, q_min: float, rate: ArrayLike, q: float) -> Any:
    """What one draft adds in expectation to the log capital of the best of the J bets (sized
    for q_min), when it is an error with probability `rate` (a number, or an array of them)
    and a human sees it with probability q >= q_min: the pace of the test, for planning how
    long certifying will take."""
    error, clean = _seen_growth(target, q_min, q)
    seen_error = np.asarray(rate, dtype=np.float64)[..., None] * q  # x = 1/q; otherwise x = 0
    growth = (seen_error * error + (1.0 - seen_error) * clean).max(axis=-1)
    return float(growth) if growth.ndim == 0 else growth


@lru_cache(maxsize=64)
def _seen_growth(
    target: float, q_min: float, q: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return log_growth(target, q_min, 1.0 / q), log_growth(target, q_min, 0.0)


def bernoulli_kl(p: float, q: float) -> float:
    """KL(Bernoulli(p) || Bernoulli(q)) in nats: the evidence per draft that a bettor who knew
    the rate p gathers against "the rate is q" (Wald's expected sample size is ln(1/delta) over
    it)."""
    return (p * math.log(p / q) if p > 0 else 0.0) + (1 - p) * math.log((1 - p) / (1 - q))


def to_dict(state: EscapeCertificate) -> dict[str, Any]:
    """A plain, JSON-ready dict."""
    return {
        "kind": KIND,
        "target": state.target,
        "q_min": state.q_min,
        "drafts": state.drafts,
        "labelled": state.labelled,
        "errors": state.errors,
        "weighted_errors": state.weighted_errors,
        "log_capital": list(state.log_capital),
        "peak_log_e": state.peak_log_e,
    }


def from_dict(data: dict[str, Any]) -> EscapeCertificate:
    """Read back `to_dict`; a malformed dict raises ValueError naming the field."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError(f"not an escape certificate of kind {KIND!r}: {str(data)[:200]}")
    expected = set(to_dict(fresh(0.5)))
    if set(data) != expected:
        raise ValueError(f"certificate fields differ: missing {sorted(expected - set(data))}, "
                         f"unexpected {sorted(set(data) - expected)}")  # fmt: skip
    drafts, labelled, errors = (_count(data, name) for name in ("drafts", "labelled", "errors"))
    if not errors <= labelled <= drafts:
        raise ValueError(
            f"counts must satisfy errors <= labelled <= drafts, got {errors}, {labelled}, {drafts}"
        )
    capital = data["log_capital"]
    if (
        not isinstance(capital, list)
        or len(capital) != len(RATIOS)
        or not all(_finite(c) for c in capital)
    ):
        raise ValueError(f"log_capital must be {len(RATIOS)} finite numbers, got {capital!r}")
    return EscapeCertificate(
        target=_check_rate("target", data["target"]),
        q_min=_check_rate("q_min", data["q_min"], closed_right=True),
        drafts=drafts,
        labelled=labelled,
        errors=errors,
        weighted_errors=_number(data, "weighted_errors"),
        log_capital=tuple(float(c) for c in capital),
        peak_log_e=_number(data, "peak_log_e"),
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a count (an integer >= 0), got {value!r}")
    return value


def _number(data: dict[str, Any], name: str) -> float:
    if not _finite(data[name]):
        raise ValueError(f"{name} must be a finite number, got {data[name]!r}")
    return float(data[name])
