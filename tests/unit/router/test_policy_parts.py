from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitl_runtime.edits import edit_distance_within
from hitl_runtime.policy import AuditPolicy
from router.audit import audit_probability, sampled, uniform
from router.drift import DriftSettings, alarm, cusum_step
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
