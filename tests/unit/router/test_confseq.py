"""The anytime-valid escape-rate certificate: exact values, monotonicity, bad input, and a
validity simulation (short here; `python -m bench.certificate_validity_bench` runs 5,000)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from bench import certificate_validity_bench as sim
from router import confseq
from router.confseq import RATIOS, EscapeCertificate, certified, e_value, fresh, update


def feed(state: EscapeCertificate, stream: list[tuple[float, bool | None]]) -> EscapeCertificate:
    for q, error in stream:
        state = update(state, q=q, error=error)
    return state


def first_certified(state: EscapeCertificate, delta: float, **draft: Any) -> int:
    """Drafts fed (all alike) until the certificate passes."""
    n = 0
    while not certified(state, delta):
        state, n = update(state, **draft), n + 1
    return n


# (target, delta) -> clean verdicts an ideal bettor needs, knowing the rate is 0:
# ceil(ln(1/delta) / -ln(1 - target)), i.e. ln(1/delta) / KL(0 || target); and ours.
CLEAN_CASES = [
    (0.03, 0.05, 99, 118),
    (0.02, 0.05, 149, 177),
    (0.01, 0.05, 299, 356),
    (0.005, 0.05, 598, 713),
    (0.02, 0.01, 228, 265),
]


@pytest.mark.parametrize(("target", "delta", "ideal", "ours"), CLEAN_CASES)
def test_clean_verdicts_needed_to_certify(
    target: float, delta: float, ideal: int, ours: int
) -> None:
    assert math.ceil(math.log(1 / delta) / -math.log(1 - target)) == ideal
    assert confseq.clean_drafts_to_certify(target, delta) == ours
    assert first_certified(fresh(target), delta, q=1.0, error=False) == ours
    # Not knowing the rate, and holding at every time, costs under a fifth more.
    assert ideal < ours <= 1.2 * ideal


def test_at_a_constant_q_clean_drafts_earn_the_same_per_label() -> None:
    """q = 0.1 everywhere: ten times the drafts, so (in expectation) the same labels."""
    assert confseq.clean_drafts_to_certify(0.02, 0.05, q_min=0.1) == 1786
    assert confseq.clean_drafts_to_certify(0.02, 0.05, q_min=0.02) == 8935


def mixture_likelihood_ratio(q: float, target: float, clean: int, errors: int) -> float:
    """The average over bets j of the likelihood ratio of Bernoulli(q r_j target) against
    Bernoulli(q target) for the event "labelled and an error", in closed form."""
    return sum(
        ((1 - q * r * target) / (1 - q * target)) ** clean * r**errors for r in RATIOS
    ) / len(RATIOS)


@pytest.mark.parametrize(
    ("q", "target", "unlabelled", "clean", "errors"),
    [
        (1.0, 0.02, 0, 200, 0),
        (1.0, 0.02, 0, 300, 1),
        (1.0, 0.01, 0, 1000, 3),
        (0.1, 0.02, 1500, 150, 1),
        (0.02, 0.02, 9000, 200, 2),
        (0.5, 0.05, 30, 30, 4),
    ],
)
def test_at_the_floor_the_e_value_is_a_mixture_likelihood_ratio(
    q: float, target: float, unlabelled: int, clean: int, errors: int
) -> None:
    stream: list[tuple[float, bool | None]] = (
        [(q, None)] * unlabelled + [(q, False)] * clean + [(q, True)] * errors
    )
    random.Random(7).shuffle(stream)
    state = feed(fresh(target, q_min=q), stream)
    expected = mixture_likelihood_ratio(q, target, unlabelled + clean, errors)
    assert e_value(state) == pytest.approx(expected, rel=1e-9)
    assert (state.drafts, state.labelled, state.errors) == (
        unlabelled + clean + errors,
        clean + errors,
        errors,
    )
    assert confseq.estimate(state) == pytest.approx(errors / q / state.drafts)


def test_the_running_state_equals_the_product_over_the_whole_history() -> None:
    """Brute force: the O(1) update against the product of every factor, in plain floats."""
    rng = random.Random(11)
    target, q_min = 0.02, 0.05
    stream: list[tuple[float, bool | None]] = []
    for _ in range(3000):
        q = rng.choice([q_min, 0.1, 0.3, 1.0])
        labelled = rng.random() < q
        stream.append((q, (rng.random() < 0.03) if labelled else None))
    state = feed(fresh(target, q_min), stream)
    lambda_max = q_min / (1 - target * q_min)
    capitals = [
        math.prod(1 + (1 - r) * lambda_max * (target - (1 / q if e else 0.0)) for q, e in stream)
        for r in RATIOS
    ]
    assert e_value(state) == pytest.approx(sum(capitals) / len(capitals), rel=1e-9)
    running, peak = [1.0] * len(RATIOS), 1.0
    for q, e in stream:
        x = 1 / q if e else 0.0
        running = [
            c * (1 + (1 - r) * lambda_max * (target - x))
            for c, r in zip(running, RATIOS, strict=True)
        ]
        peak = max(peak, sum(running) / len(running))
    assert math.exp(state.peak_log_e) == pytest.approx(peak, rel=1e-9)


# --- Monotonicity ------------------------------------------------------------------------------


def test_an_error_lowers_the_evidence_and_a_clean_or_unseen_draft_raises_it() -> None:
    base = feed(fresh(0.02, q_min=0.1), [(0.1, False)] * 50)
    clean, unseen = update(base, q=0.5, error=False), update(base, q=0.5, error=None)
    error = update(base, q=0.5, error=True)
    assert e_value(error) < e_value(base) < e_value(clean) == e_value(unseen)
    assert (clean.labelled, unseen.labelled) == (base.labelled + 1, base.labelled)


def test_an_error_found_by_a_rarer_audit_weighs_more() -> None:
    base = feed(fresh(0.02, q_min=0.02), [(0.02, None)] * 5000)
    by_q = [e_value(update(base, q=q, error=True)) for q in (0.02, 0.05, 0.2, 1.0)]
    assert by_q == sorted(by_q)
    assert len(set(by_q)) == len(by_q)


def test_a_looser_target_is_certified_no_later_and_a_smaller_delta_later() -> None:
    rng = random.Random(3)
    stream: list[tuple[float, bool | None]] = [(1.0, rng.random() < 0.004) for _ in range(4000)]
    e_values = [e_value(feed(fresh(t), stream)) for t in (0.01, 0.02, 0.03)]
    assert e_values == sorted(e_values)

    def when(target: float, delta: float) -> int:
        state = fresh(target)
        for i, (q, error) in enumerate(stream):
            state = update(state, q=q, error=error)
            if certified(state, delta):
                return i
        return len(stream)

    assert when(0.03, 0.05) <= when(0.02, 0.05) <= when(0.02, 0.01) < len(stream)


def test_a_certificate_once_reached_is_not_taken_back_by_later_errors() -> None:
    state = feed(fresh(0.02), [(1.0, False)] * 177)
    assert certified(state, 0.05)
    state = feed(state, [(1.0, True)] * 5)
    assert e_value(state) < 1 and certified(state, 0.05)
    # A change point starts again from nothing; target and design are kept.
    again = confseq.restart(state)
    assert again == fresh(0.02) and not certified(again, 0.05)


# --- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.0, -0.1, 1.5, math.nan, math.inf, "0.5", True, None])
def test_q_outside_zero_one_is_refused(q: Any) -> None:
    with pytest.raises(ValueError, match=r"q must be a number in \(0, 1\]"):
        update(fresh(0.02, q_min=0.01), q=q, error=False)


def test_q_below_the_floor_is_refused_naming_the_floor() -> None:
    with pytest.raises(ValueError, match="below this certificate's q_min = 0.05"):
        update(fresh(0.02, q_min=0.05), q=0.01, error=True)
    raised = confseq.with_q_min(fresh(0.02, q_min=0.02), 0.1)
    with pytest.raises(ValueError, match="q_min = 0.1"):
        update(raised, q=0.05, error=None)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fresh(0.0), "target must be"),
        (lambda: fresh(1.0), "target must be"),
        (lambda: fresh(math.nan), "target must be"),
        (lambda: fresh(0.02, q_min=0.0), "q_min must be"),
        (lambda: certified(fresh(0.02), 1.0), "delta must be"),
        (lambda: certified(fresh(0.02), 0.0), "delta must be"),
        (lambda: update(fresh(0.02), q=1.0, error=1), "error must be True, False or None"),
    ],
)
def test_bad_settings_are_refused_with_a_message(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_the_state_survives_json_and_goes_on_the_same() -> None:
    state = feed(fresh(0.02, q_min=0.1), [(0.1, None)] * 40 + [(0.5, True), (1.0, False)])
    restored = confseq.from_dict(json.loads(json.dumps(confseq.to_dict(state))))
    assert restored == state
    assert update(restored, q=0.2, error=False) == update(state, q=0.2, error=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "escape-eprocess-v0"}, "not an escape certificate"),
        ({"drafts": -1}, "drafts must be a count"),
        ({"errors": 99}, "errors <= labelled <= drafts"),
        ({"log_capital": [0.0, 0.0]}, "log_capital must be 7 finite numbers"),
        ({"peak_log_e": "high"}, "peak_log_e must be a finite number"),
        ({"target": 2.0}, "target must be"),
        ({"extra": 1}, "unexpected \\['extra'\\]"),
    ],
)
def test_a_malformed_stored_state_is_refused_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    data = confseq.to_dict(feed(fresh(0.02), [(1.0, False)] * 3)) | change
    with pytest.raises(ValueError, match=message):
        confseq.from_dict(data)


# --- The simulation harness, then validity -----------------------------------------------------


def test_the_event_driven_simulation_matches_update_draft_by_draft() -> None:
    """The bench skips clean drafts in bulk; stepping `update` over the same streams must
    certify at the same draft and end with the same capital."""
    phase = sim.ROUTER_AUDIT[0]
    reps, drafts, q_min = 3, 20_000, sim.phase_q_min(phase)
    events = sim.draw_events(np.random.default_rng(5), reps, drafts, 0.004, phase)
    first, end = sim.first_crossings(events, reps, drafts, np.zeros((reps, len(RATIOS))), q_min)
    for rep in range(reps):
        errors = dict(
            zip(events.draft[events.rep == rep], events.q[events.rep == rep], strict=True)
        )
        state, crossed = fresh(sim.TARGET, q_min), -1
        for d in range(drafts):
            q = errors.get(d)
            state = update(state, q=q_min if q is None else float(q), error=True if q else None)
            if crossed < 0 and certified(state, sim.DELTA):
                crossed = d
        assert first[rep] == crossed
        assert state.log_capital == pytest.approx(tuple(end[rep]), rel=1e-9)
    assert (first >= 0).any()


REPS = 1000  # each case below takes well under a second


@pytest.mark.parametrize(
    ("rate", "seed"),
    [(0.025, 1), (0.02, 2)],  # above the target, and at it (the least favourable null)
)
def test_a_rate_at_or_above_target_is_rarely_ever_certified(rate: float, seed: int) -> None:
    runs = sim.simulate([sim.Segment(sim.VALIDITY_DRAFTS, rate)], sim.CHANGING, REPS, seed)
    share = runs.share_certified()
    assert share <= sim.bound_with_bar(sim.DELTA, REPS), share
    assert np.mean(runs.labels[0]) > 10_000  # long streams: many chances to cross wrongly


def test_after_a_step_change_the_restarted_certificate_holds() -> None:
    """0.5 % (certified) then 3 %: restarted at the change, the new certificate stays rare;
    carried over, the old one would still say certified."""
    segments = [sim.Segment(sim.VALIDITY_DRAFTS, 0.005), sim.Segment(sim.VALIDITY_DRAFTS, 0.03)]
    restarted = sim.simulate(segments, sim.CHANGING, REPS, 3)
    assert restarted.share_certified(0) > 0.99
    assert restarted.share_certified(1) <= sim.bound_with_bar(sim.DELTA, REPS)
    carried = sim.simulate(segments, sim.CHANGING, REPS, 3, restart_between=False)
    assert carried.share_certified(1) > 0.99


def test_the_harness_catches_a_certificate_that_tests_until_it_passes() -> None:
    """The fixed-sample exact test re-run every 25 verdicts (the router's current certificate)
    fails the same bound: the simulation can tell a broken certificate."""
    share = sim.repeated_clopper_pearson(5_000, sim.TARGET, REPS, seed=4)
    assert share > sim.bound_with_bar(sim.DELTA, REPS) * 2, share


@pytest.mark.parametrize(
    ("design", "rate", "median_at_most"),
    [("q=1", 0.005, 366 * 1.1), ("q=0.1", 0.005, 371 * 1.1), ("q=1", 0.01, 960 * 1.3)],
)
def test_power_a_rate_well_under_target_certifies_near_walds_sample_size(
    design: str, rate: float, median_at_most: float
) -> None:
    (phase,) = sim.DESIGNS[design]
    runs = sim.simulate(
        [sim.Segment(int(20_000 / sim.phase_mean_q(phase)), rate)], sim.DESIGNS[design], 400, 6
    )
    assert runs.share_certified() == 1.0
    assert np.median(runs.first_label[0]) <= median_at_most
