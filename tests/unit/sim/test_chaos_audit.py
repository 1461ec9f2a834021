"""The crash suite's pure parts: the fault plan and the invariant audit, no broker."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from hitl_sim.audit import Flow, audit, render, stage
from hitl_sim.chaos import plan_faults
from hitl_sim.soak import Sample, judge

SERVICES = ["scorer", "router", "review-api", "feedback"]
SCORED, ROUTED = "scored", "routed or dead-lettered"
DECIDED, LEARNED = "decided", "learned (feedback example)"


@pytest.mark.parametrize("kills", [1, 2, 3])
def test_every_service_is_killed_as_often_as_asked_and_infrastructure_fails_once(
    kills: int,
) -> None:
    faults = plan_faults(SERVICES, kills_each=kills, window=60.0, seed=3)
    counts = Counter(f.target for f in faults)
    assert counts == {**dict.fromkeys(SERVICES, kills), "broker": 1, "database": 1}
    assert [f.at for f in faults] == sorted(f.at for f in faults)
    assert all(0 < f.at < 60.0 and f.down_for > 0 for f in faults)


def test_the_fault_plan_is_reproducible_by_seed() -> None:
    plan = plan_faults(SERVICES, kills_each=2, window=30.0, seed=7)
    assert plan == plan_faults(SERVICES, kills_each=2, window=30.0, seed=7)
    assert plan != plan_faults(SERVICES, kills_each=2, window=30.0, seed=8)


@pytest.mark.parametrize(
    ("expected", "arrived", "missing", "duplicates", "unexpected"),
    [
        (["a", "b"], ["a", "b"], 0, 0, 0),
        (["a", "b"], ["a"], 1, 0, 0),
        (["a", "b"], ["a", "b", "b", "b"], 0, 2, 0),
        (["a"], ["a", "z"], 0, 0, 1),
        ([], [], 0, 0, 0),
    ],
)
def test_a_stage_counts_missing_duplicated_and_unexpected_records(
    expected: list[str], arrived: list[str], missing: int, duplicates: int, unexpected: int
) -> None:
    result = stage("s", expected, arrived)
    assert (result.missing, result.duplicates, result.unexpected) == (
        missing,
        duplicates,
        unexpected,
    )
    assert result.ok is (missing == duplicates == unexpected == 0)


CLEAN = Flow(
    drafts=["d1", "d2", "d3"],
    scored=["d1", "d2"],
    routed=["d1", "d2"],
    needs_review=["d2"],
    decisions=[("d2", "dec-2")],
    feedback=["d2"],
    dead_drafts=["d3"],
)


def clean_flow(**changes: Any) -> Flow:
    return replace(CLEAN, **changes)


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({}, []),
        ({"routed": ["d1"]}, [ROUTED]),  # d2 lost by the router
        ({"routed": ["d1", "d2", "d2"]}, [ROUTED]),  # routed twice
        ({"dead_drafts": []}, [SCORED, ROUTED]),  # d3 neither scored, routed nor dead
        ({"routed": ["d1", "d2", "d3"]}, [ROUTED]),  # routed and dead-lettered
        ({"scored": ["d1", "d2", "d2"]}, [SCORED]),
        ({"decisions": []}, [DECIDED, LEARNED]),  # and an example with no decision
        ({"decisions": [("d2", "dec-2"), ("d2", "dec-9")]}, [DECIDED]),  # two verdicts
        ({"feedback": []}, [LEARNED]),
        ({"feedback": ["d2", "d2"]}, [LEARNED]),
        # d1 published twice (an idempotent producer's epoch bump): scored twice, routed once
        ({"drafts": ["d1", "d1", "d2", "d3"], "scored": ["d1", "d1", "d2"]}, []),
        ({"drafts": ["d1", "d1", "d2", "d3"], "scored": ["d1", "d1", "d1", "d2"]}, [SCORED]),
        (
            {
                "drafts": ["d1", "d1", "d2", "d3"],
                "scored": ["d1", "d1", "d2"],
                "routed": ["d1", "d1", "d2"],
            },
            [ROUTED],
        ),  # fmt: skip
    ],
)
def test_the_audit_fails_exactly_the_stages_that_lost_or_duplicated(
    changes: dict[str, Any], failing: list[str]
) -> None:
    result = audit(clean_flow(**changes))
    assert [s.name for s in result.stages if not s.ok] == failing
    assert result.ok is (not failing)
    assert ("verdict: OK" in render(result)) is result.ok


def test_a_redelivered_copy_of_one_decision_is_reported_not_counted_twice() -> None:
    result = audit(clean_flow(decisions=[("d2", "dec-2"), ("d2", "dec-2")]))
    assert result.ok
    assert result.redelivered_decisions == 1


def test_dead_letters_from_later_stages_fail_the_run() -> None:
    result = audit(clean_flow(other_dead_letters=1))
    assert not result.ok


@pytest.mark.parametrize(
    ("rss", "growth_ok"),
    [
        ([100.0] * 10, True),  # flat
        ([100.0 + (5 if i % 2 else 0) for i in range(10)], True),  # GC sawtooth, no trend
        ([100.0 + 6 * i for i in range(10)], False),  # +36 MB over the judged span: a leak
        ([100.0 + 40 * (i < 3) for i in range(10)], True),  # warm-up spike, then flat
    ],
)
def test_the_soak_judges_the_memory_trend_after_warm_up(rss: list[float], growth_ok: bool) -> None:
    samples = [Sample(at=float(i * 10), rss_mb=mb, lag=0.0) for i, mb in enumerate(rss)]
    verdict = judge("svc", samples, warmup=30.0, max_growth_mb=30.0, max_lag=100.0)
    assert verdict.ok is growth_ok


def test_the_soak_fails_on_lag_after_warm_up_only() -> None:
    lags = [9000.0, 10.0, 10.0, 10.0, 10.0]
    samples = [Sample(at=float(i * 10), rss_mb=100.0, lag=lag) for i, lag in enumerate(lags)]
    assert judge("svc", samples, warmup=10.0, max_growth_mb=30.0, max_lag=100.0).ok
    samples.append(Sample(at=50.0, rss_mb=100.0, lag=500.0))
    assert not judge("svc", samples, warmup=10.0, max_growth_mb=30.0, max_lag=100.0).ok
