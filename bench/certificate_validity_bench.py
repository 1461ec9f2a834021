"""Does the escape-rate certificate (router.confseq) keep its promise, and what does it cost?

    uv run python -m bench.certificate_validity_bench [--reps 5000] \
        [--json bench/results/certificate_validity.json]

Validity: many seeded runs of a stream whose true escape rate is at or above the target. The
share of runs that ever certify must be at most delta, up to its binomial error bar. The
streams mix drafts near the threshold (more errors, audited more) with drafts far above it
(fewer errors, audited at the floor), and the audit rates change over the run (explore, then
monitor, then a boosted phase). The step-change stream certifies a good period, then the rate
jumps above target and the certificate restarts at the change. As a control, the repeated
fixed-sample Clopper-Pearson test (the router's current certificate, re-run every 25 verdicts)
runs on the same kind of stream at the target rate: it certifies more often than delta.

Power: verdicts (labelled drafts) needed to certify at true rates 0, 0.5 %, 1 % and 1.5 %
against a 2 % target, with q = 1, q = 0.1 and the changing schedule, next to the ideal
ln(1/delta) / KL (Wald's expected sample size for a bettor who knew the rate).

Every run is vectorised over repetitions with numpy, through the same `log_growth` and
`log_mixture` that `router.confseq.update` uses. The unit tests call these functions with
fewer repetitions.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import bdtr

from bench.common import write_result
from router.confseq import RATIOS, log_growth, log_mixture

TARGET, DELTA = 0.02, 0.05
NEAR_SHARE = 0.3  # drafts near the threshold: twice the mean error rate, audited more
NEAR_ERRORS, FAR_ERRORS = 2.0, (1.0 - NEAR_SHARE * 2.0) / (1.0 - NEAR_SHARE)
VALIDITY_DRAFTS = 60_000  # per stream: ~11,000 labelled drafts on the changing schedule
POWER_RATES = (0.0, 0.005, 0.01, 0.015)


@dataclass(frozen=True, slots=True)
class Phase:
    """Audit rates, each drawn uniformly from its range per draft: near the threshold, far."""

    near_q: tuple[float, float]
    far_q: tuple[float, float]


def constant(q: float) -> tuple[Phase]:
    return (Phase((q, q), (q, q)),)


# Explore (heavy audits), monitor (light, down to the 2 % floor), boosted (after an alarm):
# each a third of the stream. Errors sit where audits are heavy, which a naive estimate
# would over-count; the importance weights must undo it.
CHANGING = (
    Phase((0.3, 0.6), (0.05, 0.15)),
    Phase((0.05, 0.15), (0.02, 0.02)),
    Phase((0.5, 1.0), (0.1, 0.2)),
)
ROUTER_AUDIT = (Phase((0.07, 0.17), (0.02, 0.02)),)  # floor 2 %, up to +10 % near the threshold
DESIGNS: dict[str, tuple[Phase, ...]] = {
    "q=1": constant(1.0),
    "q=0.1": constant(0.1),
    "router audit (q 0.02-0.17)": ROUTER_AUDIT,
    "changing schedule (q 0.02-1)": CHANGING,
}


@dataclass(frozen=True, slots=True)
class Segment:
    drafts: int
    rate: float  # true escape rate, the mean over near and far drafts


@dataclass(frozen=True, slots=True)
class Events:
    """One segment's labelled errors, flattened over repetitions in (rep, draft) order; only
    they move the capital differently from a clean or unlabelled draft."""

    rep: NDArray[np.int64]
    draft: NDArray[np.int64]
    q: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Runs:
    """Per segment and repetition: where the certificate first passed (-1: never)."""

    first_draft: list[NDArray[np.int64]]  # drafts into the segment
    first_label: list[NDArray[np.int64]]  # labelled drafts into the segment (first included)
    labels: list[NDArray[np.int64]]  # labelled drafts in the whole segment

    def share_certified(self, segment: int = 0) -> float:
        return float(np.mean(self.first_draft[segment] >= 0))


def _phase_bounds(drafts: int, design: tuple[Phase, ...]) -> list[tuple[int, int]]:
    cuts = [drafts * i // len(design) for i in range(len(design) + 1)]
    return list(itertools.pairwise(cuts))


def _mean_q(bounds: tuple[float, float]) -> float:
    return (bounds[0] + bounds[1]) / 2


def phase_mean_q(phase: Phase) -> float:
    return NEAR_SHARE * _mean_q(phase.near_q) + (1 - NEAR_SHARE) * _mean_q(phase.far_q)


def phase_q_min(phase: Phase) -> float:
    return min(phase.near_q[0], phase.far_q[0])


def _event_rate(phase: Phase, rate: float) -> tuple[float, float]:
    """(P(a draft is a labelled error), P(it was near the threshold | it is one))."""
    near = NEAR_SHARE * rate * NEAR_ERRORS * _mean_q(phase.near_q)
    far = (1 - NEAR_SHARE) * rate * FAR_ERRORS * _mean_q(phase.far_q)
    total = near + far
    return total, (near / total if total > 0 else 0.0)


def draw_events(
    rng: np.random.Generator, reps: int, drafts: int, rate: float, phase: Phase
) -> Events:
    """Labelled errors of `reps` independent streams of `drafts` drafts in one phase. Drafts
    are independent, so the gaps between labelled errors are geometric, and an error's q is
    drawn from the q's of its kind weighted by q (a draft audited twice as often is twice as
    likely to be a labelled error)."""
    p, near_share = _event_rate(phase, rate)
    if p <= 0 or drafts <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return Events(empty, empty, np.zeros(0))
    width = int(drafts * p + 8 * math.sqrt(drafts * p) + 16)
    gaps = rng.geometric(p, size=(reps, width))
    while (gaps.sum(axis=1) < drafts).any():  # too few drawn for some stream: draw more
        gaps = np.concatenate([gaps, rng.geometric(p, size=(reps, width))], axis=1)
    at = np.cumsum(gaps, axis=1) - 1
    rep, column = np.nonzero(at < drafts)  # row-major: sorted by rep, then draft
    near = rng.random(rep.size) < near_share
    q_lo = np.where(near, phase.near_q[0], phase.far_q[0])
    q_hi = np.where(near, phase.near_q[1], phase.far_q[1])
    # Inverse CDF of the density proportional to q on [q_lo, q_hi].
    q = np.sqrt(q_lo**2 + rng.random(rep.size) * (q_hi**2 - q_lo**2))
    return Events(rep, at[rep, column], q)


def first_crossings(
    events: Events, reps: int, drafts: int, start: NDArray[np.float64], q_min: float,
    target: float = TARGET, delta: float = DELTA,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:  # fmt: skip
    """The first draft at which each stream's e-value reaches 1/delta (-1: never), and the
    log-capital after the segment's last draft, from log-capital `start` (reps x bets).

    Exact, not sampled: a draft without a labelled error grows every bet by the same
    log_growth(x=0), and an error shrinks every bet. So within a run of clean drafts the
    e-value rises, and it peaks just before an error or at the end: the first run whose peak
    crosses holds the crossing, found there by bisection."""
    needed, n = math.log(1.0 / delta), events.rep.size
    clean = log_growth(target, q_min, 0.0)
    hits = log_growth(target, q_min, 1.0 / events.q).reshape(n, len(RATIOS))
    counts = np.bincount(events.rep, minlength=reps)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    # sums[k]: the first k hits added up (all reps in a row); a rep's own sums are differences.
    sums = np.vstack([np.zeros(len(RATIOS)), np.cumsum(hits, axis=0)])
    end = start + (drafts - counts)[:, None] * clean + sums[offsets[1:]] - sums[offsets[:-1]]
    first_event = np.full(reps, n, dtype=np.int64)  # flat index of the first crossing run's error
    if n:
        earlier = np.arange(n) - offsets[events.rep]  # errors earlier in the same rep
        before = sums[np.arange(n)] - sums[offsets[events.rep]]
        ahead = start[events.rep] + (events.draft - earlier)[:, None] * clean + before
        crossed = np.nonzero(log_mixture(ahead) >= needed)[0]
        np.minimum.at(first_event, events.rep[crossed], crossed)
    has = first_event < n
    todo = np.nonzero(has | (log_mixture(end) >= needed))[0]
    first = np.full(reps, -1, dtype=np.int64)
    if todo.size == 0:
        return first, end
    # The crossing run starts after the rep's k-th error (k = 0: at the segment's start).
    k = np.where(has, first_event - offsets[:-1], counts)[todo]
    previous = offsets[todo] + k - 1
    after_error = k > 0
    safe = np.clip(previous, 0, max(n - 1, 0))
    last_draft = np.where(after_error, events.draft[safe] if n else -1, -1)
    hit_sum = np.where(
        after_error[:, None], sums[np.minimum(safe + 1, n)] - sums[offsets[todo]], 0.0
    )
    base = start[todo] + (last_draft + 1 - k)[:, None] * clean + hit_sum
    stop = np.where(has[todo], events.draft[np.minimum(first_event[todo], n - 1)] if n else 0,
                    drafts)  # fmt: skip
    low = np.zeros(todo.size, dtype=np.int64)  # clean drafts into the run: not yet crossed
    high = stop - last_draft - 1  # crossed by the run's last clean draft
    while (high - low > 1).any():
        middle = (low + high) // 2
        ok = log_mixture(base + middle[:, None] * clean) >= needed
        low, high = np.where(ok, low, middle), np.where(ok, middle, high)
    first[todo] = last_draft + high
    return first, end


def simulate(
    segments: list[Segment],
    design: tuple[Phase, ...],
    reps: int,
    seed: int,
    *,
    restart_between: bool = True,
    target: float = TARGET,
    delta: float = DELTA,
) -> Runs:
    """Feed `reps` independent streams to the certificate, segment after segment (restarted at
    each segment's start unless `restart_between` is False). Each segment runs the design's
    phases in turn, and the bets follow each phase's floor (`with_q_min`)."""
    rng = np.random.default_rng(seed)
    log_capital = np.zeros((reps, len(RATIOS)))
    done = np.zeros(reps, dtype=bool)
    out = Runs([], [], [])
    for segment in segments:
        if restart_between:
            log_capital, done = np.zeros_like(log_capital), np.zeros(reps, dtype=bool)
        first = np.where(done, 0, -1)
        first_label = np.where(done, 0, -1)
        labels = np.zeros(reps, dtype=np.int64)
        for phase, (lo, hi) in zip(design, _phase_bounds(segment.drafts, design), strict=True):
            events = draw_events(rng, reps, hi - lo, segment.rate, phase)
            crossing, log_capital = first_crossings(
                events, reps, hi - lo, log_capital, phase_q_min(phase), target, delta
            )
            # Labelled clean drafts do not move the certificate; they are counted with a
            # binomial draw for the phase, split at the crossing by a hypergeometric one.
            errors = np.bincount(events.rep, minlength=reps)
            p, _ = _event_rate(phase, segment.rate)
            clean = hi - lo - errors
            clean_labelled = rng.binomial(clean, (phase_mean_q(phase) - p) / (1 - p))
            newly = np.nonzero((first < 0) & (crossing >= 0))[0]
            if newly.size:
                upto = events.draft <= crossing[events.rep]
                errors_upto = np.bincount(events.rep[upto], minlength=reps)[newly]
                seen = np.minimum(crossing[newly] + 1 - errors_upto, clean[newly])
                labelled_upto = rng.hypergeometric(
                    clean_labelled[newly], clean[newly] - clean_labelled[newly], seen
                )
                first[newly] = lo + crossing[newly]
                first_label[newly] = labels[newly] + errors_upto + labelled_upto
            labels += errors + clean_labelled
        done |= first >= 0
        out.first_draft.append(first)
        out.first_label.append(first_label)
        out.labels.append(labels)
    return out


def repeated_clopper_pearson(
    verdicts: int, rate: float, reps: int, seed: int, every: int = 25
) -> float:
    """Share of runs that the fixed-sample exact test, re-run every `every` verdicts (q = 1),
    ever passes: P(Bin(n, target) <= errors) <= delta at some look."""
    rng = np.random.default_rng(seed)
    errors = np.cumsum(rng.random((reps, verdicts)) < rate, axis=1)
    looks = np.arange(every, verdicts + 1, every)
    p_values = bdtr(errors[:, looks - 1], looks, TARGET)
    return float(np.mean((p_values <= DELTA).any(axis=1)))


def error_bar(share: float, reps: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation interval of a share (at least that of 1/reps)."""
    p = max(share, 1.0 / reps)
    return z * math.sqrt(p * (1.0 - p) / reps)


def bound_with_bar(delta: float, reps: int, z: float = 2.576) -> float:
    """The most a valid certificate's observed share may be: delta plus its error bar."""
    return delta + z * math.sqrt(delta * (1.0 - delta) / reps)


def kl_bernoulli(a: float, b: float) -> float:
    term = 0.0 if a == 0 else a * math.log(a / b)
    return term + (1 - a) * math.log((1 - a) / (1 - b))


def ideal_labels(rate: float, q: float, target: float = TARGET, delta: float = DELTA) -> float:
    """Wald's expected labels for an ideal bettor at one constant q: each draft carries
    KL(Bern(q rate) || Bern(q target)) nats, a labelled draft q times fewer."""
    return q * math.log(1.0 / delta) / kl_bernoulli(q * rate, q * target)


def validity(reps: int, seed: int = 1) -> dict[str, Any]:
    """Shares of runs that ever certify a rate at or above the target (changing schedule)."""
    cases: dict[str, Any] = {}
    for name, segments in {
        "above target (2.5 % vs 2 %)": [Segment(VALIDITY_DRAFTS, 0.025)],
        "at target (2 %, the least favourable null)": [Segment(VALIDITY_DRAFTS, 0.02)],
    }.items():
        runs = simulate(segments, CHANGING, reps, seed)
        cases[name] = _validity_row(runs, 0, reps) | {"drafts": segments[0].drafts}
    step = simulate(
        [Segment(VALIDITY_DRAFTS, 0.005), Segment(VALIDITY_DRAFTS, 0.03)], CHANGING, reps, seed
    )
    cases["step 0.5 % -> 3 %, restarted at the change"] = _validity_row(step, 1, reps) | {
        "drafts_each_side": VALIDITY_DRAFTS,
        "share_certified_before_change": step.share_certified(0),
    }
    control = repeated_clopper_pearson(5_000, TARGET, reps, seed)
    cases["control: Clopper-Pearson re-run every 25 verdicts, at target, q = 1"] = {
        "reps": reps,
        "verdicts": 5_000,
        "share_ever_certified": control,
        "error_bar_95": error_bar(control, reps),
    }
    return cases


def _validity_row(runs: Runs, segment: int, reps: int) -> dict[str, Any]:
    share = runs.share_certified(segment)
    return {
        "reps": reps,
        "mean_labels": float(np.mean(runs.labels[segment])),
        "share_ever_certified": share,
        "error_bar_95": error_bar(share, reps),
        "allowed": bound_with_bar(DELTA, reps),
    }


def power(reps: int, seed: int = 2, rates: tuple[float, ...] = POWER_RATES) -> list[dict[str, Any]]:
    """Labelled drafts needed to certify, per design and true rate (target 2 %)."""
    rows = []
    for name, design in DESIGNS.items():
        mean_q = sum(phase_mean_q(phase) for phase in design) / len(design)
        for rate in rates:
            labels = 60_000 if rate >= 0.015 else 20_000  # far beyond the 90th percentile
            runs = simulate([Segment(int(labels / mean_q), rate)], design, reps, seed)
            hit = runs.first_label[0][runs.first_label[0] >= 0]
            constant_q = design[0].near_q[0] if design == constant(design[0].near_q[0]) else None
            rows.append(
                {
                    "design": name,
                    "q_min": [phase_q_min(phase) for phase in design],
                    "rate": rate,
                    "share_certified": runs.share_certified(),
                    "labels_mean": float(hit.mean()) if hit.size else None,
                    "labels_median": float(np.median(hit)) if hit.size else None,
                    "labels_p90": float(np.quantile(hit, 0.9)) if hit.size else None,
                    "ideal_labels": None if constant_q is None else ideal_labels(rate, constant_q),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5_000)
    parser.add_argument("--power-reps", type=int, default=1_000)
    parser.add_argument("--json", default="bench/results/certificate_validity.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sections = {
        "target": TARGET,
        "delta": DELTA,
        "validity": validity(args.reps),
        "power": power(args.power_reps),
    }
    sections["seconds"] = round(time.perf_counter() - started, 1)
    write_result("certificate_validity", sections, args.json)


if __name__ == "__main__":
    main()
