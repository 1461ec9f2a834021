from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitl_runtime.edits import edit_distance_within
from hitl_runtime.policy import AuditPolicy
from router.audit import audit_probability, sampled, uniform
from router.drift import DriftSettings, alarm, baseline, cusum_step
from router.evidence import REVIEW_ALL_BETS, Evidence, bucket_of, routed


def test_audit_sampling_is_reproducible_per_draft() -> None:
    assert uniform("d-1") == uniform("d-1")
    assert uniform("d-1") != uniform("d-2")
    assert [sampled(f"d-{i}", 0.1) for i in range(50)] == [
        sampled(f"d-{i}", 0.1) for i in range(50)
    ]


def test_audit_sampling_hits_its_rate() -> None:
    hits = sum(sampled(f"draft-{i}", 0.05) for i in range(40_000))
    assert 0.045 < hits / 40_000 < 0.055


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [(0.90, 0.12), (0.925, 0.07), (0.95, 0.02), (0.99, 0.02)],
)
def test_audit_probability_is_highest_at_the_threshold_and_never_below_the_floor(
    confidence: float, expected: float
) -> None:
    policy = AuditPolicy(floor=0.02, near_threshold=0.10, near_width=0.05)
    assert audit_probability(confidence, 0.90, policy) == pytest.approx(expected)
    assert audit_probability(confidence, 0.90, policy, boost=5.0) == pytest.approx(
        min(1.0, expected * 5)
    )


def test_evidence_tails_sum_the_buckets_at_and_above_a_threshold() -> None:
    ev = Evidence(target=0.02, floor=0.02, monitor=0.005)
    for score in (0.955, 0.97, 0.99, 0.5):
        routed(ev, at=0, score=score, q=1.0, bets=REVIEW_ALL_BETS, reviewed=False)
    assert (ev.tail_drafts(0.95), ev.tail_drafts(0.97), ev.tail_drafts(0.5)) == (3, 2, 4)
    assert bucket_of(1.0) == 99 and bucket_of(0.97) == 97 and bucket_of(0.0) == 0


def _stream(rate: float, n: int, seed: int) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < rate for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_cusum_stays_quiet_on_a_stable_stream(seed: int) -> None:
    statistic, settings = 0.0, DriftSettings()
    for error in _stream(0.02, 2_000, seed):
        statistic = cusum_step(statistic, error, 0.02, settings)
        assert not alarm(statistic, settings)


@pytest.mark.parametrize("seed", range(5))
def test_cusum_fires_soon_after_a_step_change(seed: int) -> None:
    statistic, settings = 0.0, DriftSettings()
    for error in _stream(0.02, 500, seed):
        statistic = cusum_step(statistic, error, 0.02, settings)
    fired_after = None
    for i, error in enumerate(_stream(0.12, 1_000, seed + 100)):
        statistic = cusum_step(statistic, error, 0.02, settings)
        if alarm(statistic, settings):
            fired_after = i
            break
    assert fired_after is not None and fired_after < 250


def _counts(**buckets: tuple[int, int, int]) -> tuple[Any, Any, Any]:
    """(labelled, errors, drafts) arrays with these values in buckets named b<index>."""
    arrays = [np.zeros(100, dtype=np.int64) for _ in range(3)]
    for name, values in buckets.items():
        for array, value in zip(arrays, values, strict=True):
            array[int(name[1:])] = value
    return arrays[0], arrays[1], arrays[2]


def test_with_no_verdicts_every_bucket_is_tested_against_the_target() -> None:
    labelled, errors, drafts = _counts(b95=(0, 0, 10), b99=(0, 0, 10))
    for bucket in (95, 97, 99):
        p0 = baseline(labelled, errors, drafts, bucket=bucket, low=95, target=0.02)
        assert p0 == pytest.approx(0.02)


def test_bucket_baselines_follow_their_error_shares_and_average_to_the_target() -> None:
    labelled, errors, drafts = _counts(b90=(500, 30, 1000), b95=(500, 5, 3000))
    near, far = (baseline(labelled, errors, drafts, bucket=b, low=90, target=0.02)
                 for b in (90, 95))  # fmt: skip
    assert near > 0.02 > far
    assert (1000 * near + 3000 * far) / 4000 == pytest.approx(0.02)


@pytest.mark.parametrize("seed", range(3))
def test_audits_heavy_near_the_threshold_raise_no_alarm_against_their_buckets(seed: int) -> None:
    """Drafts near the threshold err 6x as often as those far above it, the mean is the target,
    and audits sample the near ones 12x as often: against one flat target the audit stream
    looks drifted; against each bucket's baseline it does not, and a tripling still alarms."""
    rng, settings, target = random.Random(seed), DriftSettings(), 0.02
    far_rate = target / (0.3 * 6 + 0.7)
    rates, q = {90: 6 * far_rate, 95: far_rate}, {90: 0.12, 95: 0.01}
    labelled, errors, drafts = _counts(b90=(3000, round(3000 * rates[90]), 30_000),
                                       b95=(1400, round(1400 * rates[95]), 70_000))  # fmt: skip
    p0 = {b: baseline(labelled, errors, drafts, bucket=b, low=90, target=target) for b in rates}

    def audits(scale: float, n: int) -> list[tuple[int, bool]]:
        picks = rng.choices([90, 95], weights=[0.3 * q[90], 0.7 * q[95]], k=n)
        return [(b, rng.random() < scale * rates[b]) for b in picks]

    flat = by_bucket = 0.0
    flat_alarms = 0
    for b, error in audits(1.0, 3000):
        by_bucket = cusum_step(by_bucket, error, p0[b], settings)
        assert not alarm(by_bucket, settings)
        flat = cusum_step(flat, error, target, settings)
        flat_alarms += alarm(flat, settings)
        flat = 0.0 if alarm(flat, settings) else flat
    assert flat_alarms > 0  # the flat test mistakes where audits are for drift
    tripled = audits(3.0, 600)
    for b, error in tripled:
        by_bucket = cusum_step(by_bucket, error, p0[b], settings)
        if alarm(by_bucket, settings):
            break
    assert alarm(by_bucket, settings)  # within 600 audits of a tripling


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@given(
    st.text(alphabet="abc ", max_size=30),
    st.text(alphabet="abc ", max_size=30),
    st.integers(min_value=0, max_value=8),
)
def test_bounded_edit_distance_agrees_with_levenshtein(a: str, b: str, bound: int) -> None:
    assert edit_distance_within(a, b, bound) == min(_levenshtein(a, b), bound + 1)
