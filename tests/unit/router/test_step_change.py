"""Validity across a step change, through the router's own learning functions.

A type certifies on a good stream (a quarter of the target), then its rate steps up to the
target itself and the change is caught (the restart a drift alarm makes). Verdicts on drafts
routed before the change are still coming, all clean: counted, they would certify the new
stream on the old one's evidence. The share of runs that certify after the change must stay
at most delta. The long version is `bench.certificate_validity_bench` (step-change row)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from hitl_runtime.policy import ContentTypePolicy, Policy, load_policy
from router.core import (
    RouterConfig,
    TypeState,
    _tighten,
    initial_state,
    learn,
    note_routed,
)

ROOT = Path(__file__).resolve().parents[3]
CONFIG = RouterConfig(walk_every=20)  # a look after every tally, as the service walks
BATCH = 20  # drafts per tally, one slice each
LATE = 40  # pre-change verdicts still to come at the change


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policy" / "default.yaml")


def _verdict(s: TypeState, ct: ContentTypePolicy, version: int, at: int, now: int,
             error: bool) -> bool:  # fmt: skip
    return learn(s, confidence=0.97, q=1.0, reason="review_all", phase="explore",
                 version=version, at=at, error=error, ct=ct, config=CONFIG,
                 now=now).counted  # fmt: skip


def _certified(ct: ContentTypePolicy) -> tuple[dict[str, Any], int]:
    """The good period, every verdict in on time: the stored state once certified, and the
    next slice."""
    rng = random.Random(0)
    s, at = initial_state("customer_email", ct), 0
    while s.mode == "review_all":
        assert note_routed(s, confidence=0.97, q=1.0, reason="review_all", phase="explore",
                           reviewed=True, version=s.version, at=at, drafts=BATCH)  # fmt: skip
        for _ in range(BATCH):
            _verdict(s, ct, s.version, at, at, rng.random() < ct.target_escape_rate / 4)
        at += 1
    return s.to_dict(), at


def _step_run(
    seed: int, ct: ContentTypePolicy, good: tuple[dict[str, Any], int], rate_after: float,
    drafts_after: int,
) -> bool:  # fmt: skip
    """Does the type certify again after the change?"""
    rng = random.Random(seed)
    s, change = TypeState.from_dict(good[0], ct), good[1]
    old = s.version
    note_routed(s, confidence=0.97, q=1.0, reason="review_all", phase="explore", reviewed=True,
                version=old, at=change, drafts=LATE)  # fmt: skip
    _tighten(s, ct, CONFIG, why="step change", review_all=True)
    assert (s.mode, s.certified) == ("review_all", None)
    late = [(change, False)] * LATE
    waiting: list[tuple[int, int, bool]] = []
    for at in range(change + 1, change + 1 + drafts_after // BATCH):
        assert note_routed(s, confidence=0.97, q=1.0, reason="review_all", phase="explore",
                           reviewed=True, version=s.version, at=at, drafts=BATCH)  # fmt: skip
        for _ in range(BATCH):  # rejects come later than approvals
            error = rng.random() < rate_after
            waiting.append((at + rng.randint(0, 2) * (4 if error else 1), at, error))
        for routed_at, error in late[:BATCH]:  # routed under the old version: not learnt
            assert not _verdict(s, ct, old, routed_at, at, error)
        late = late[BATCH:]
        for _, routed_at, error in [w for w in waiting if w[0] <= at]:
            _verdict(s, ct, s.version, routed_at, at, error)
        waiting = [w for w in waiting if w[0] > at]
        if s.mode == "certified":
            return True
    return False


def test_after_a_step_change_to_the_target_at_most_delta_of_runs_certify(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    good, runs = _certified(ct), 500
    assert TypeState.from_dict(good[0], ct).mode == "certified"
    rate = ct.target_escape_rate
    share = sum(_step_run(seed, ct, good, rate, 2000) for seed in range(runs)) / runs
    assert share <= ct.delta + 2 * math.sqrt(ct.delta * (1 - ct.delta) / runs), share
    # Power after the change: back at a quarter of the target, most runs certify again.
    assert sum(_step_run(seed, ct, good, rate / 4, 2000) for seed in range(50)) >= 40
