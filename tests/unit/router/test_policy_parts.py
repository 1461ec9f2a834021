from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitl_runtime.edits import edit_distance_within
from hitl_runtime.policy import AuditPolicy
from router.audit import audit_probability, sampled, uniform
from router.drift import DriftSettings, alarm, cusum_step, nudge
from router.ledger import Ledger, bucket_of


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


def test_ledger_decay_halves_old_evidence_after_one_half_life() -> None:
    ledger = Ledger(half_life=100, floor=0.02)
    ledger.record(0.95, q=1.0, error=True, audit=False, uniform=False)
    for _ in range(100):
        ledger.record(0.95, q=1.0, error=False, audit=False, uniform=False)
    assert ledger.total("errors") == pytest.approx(0.5, rel=0.01)
    assert ledger.total("labelled") == pytest.approx(
        sum(0.5 ** (i / 100) for i in range(101)), rel=1e-6
    )


def test_ledger_renormalises_without_losing_anything() -> None:
    ledger = Ledger(half_life=100, floor=0.02)
    for i in range(60_000):  # pushes the lazy scale past its renormalisation point
        ledger.record(0.95, q=1.0, error=i % 50 == 0, audit=False, uniform=False)
    assert ledger.total("errors") / ledger.total("labelled") == pytest.approx(0.02, rel=0.2)
    restored = Ledger.from_dict(ledger.to_dict())
    assert restored.total("labelled") == pytest.approx(ledger.total("labelled"))


def test_ledger_tails_sum_the_buckets_at_and_above_a_threshold() -> None:
    ledger = Ledger(half_life=1e9, floor=0.02)
    for score, audit in [(0.955, False), (0.97, True), (0.99, True), (0.5, False)]:
        ledger.record(score, q=0.02 if audit else 1.0, error=False, audit=audit, uniform=audit)
    [at_95, at_97] = ledger.tails([0.95, 0.97])
    assert (at_95.reviewed, at_95.sampled) == pytest.approx((1, 2))
    assert (at_97.reviewed, at_97.sampled) == pytest.approx((0, 2))
    assert at_95.weighted_items == pytest.approx(1 + 2 / 0.02)
    assert bucket_of(1.0) == 99 and bucket_of(0.97) == 97


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


def test_nudge_rises_on_escapes_and_decays_at_the_target_rate() -> None:
    settings = DriftSettings(up=0.02, max_nudge=0.05)
    value = 0.0
    for _ in range(5):
        value = nudge(value, True, 0.02, settings)
    assert value == pytest.approx(0.05)
    value = nudge(value, False, 0.02, settings)
    assert value == pytest.approx(0.05 - 0.02 * 0.02 / 0.98)


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
