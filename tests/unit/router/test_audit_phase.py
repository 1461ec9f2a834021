"""Audit phases: explore (floor + near-threshold ramp) while a looser threshold is worth
certifying, monitor (a light uniform rate) once none is; each phase's drafts bet in their own
class, so a verdict is counted with the bets its draft was routed under."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from hitl_runtime.policy import AuditPolicy, Policy, load_policy
from hitl_schemas import RoutingSnapshot, Signal, examples
from router import confseq, evidence
from router.audit import audit_probability
from router.core import (
    CANDIDATES,
    RouterConfig,
    TypeState,
    bet_class,
    certify,
    initial_state,
    learn,
    note_routed,
    on_tally,
    route,
    threshold_event,
)
from router.tally import RoutingTally

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CONFIG = RouterConfig()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policy" / "default.yaml")


def verdict_on(
    s: TypeState, policy: Policy, *, confidence: float, q: float, reason: str, error: bool,
) -> None:  # fmt: skip
    ct = policy.content_types[s.content_type]
    draft = {"confidence": confidence, "q": q, "reason": reason, "version": s.version, "at": 0,
             "phase": s.audit_phase}  # fmt: skip
    assert note_routed(s, reviewed=True, **draft)  # type: ignore[arg-type]
    learnt = learn(s, **draft, error=error, ct=ct, config=CONFIG, now=0)  # type: ignore[arg-type]
    assert learnt.counted


def certified_everywhere(policy: Policy) -> TypeState:
    """customer_email certified at the loosest candidate: every draft scored 0.97, all clean,
    so every candidate has the same clean tail and there is nothing looser to explore."""
    s = initial_state("customer_email", policy.content_types["customer_email"])
    while s.mode == "review_all":
        verdict_on(s, policy, confidence=0.97, q=1.0, reason="review_all", error=False)
    assert (s.mode, s.certified) == ("certified", CANDIDATES[-1])
    return s


@pytest.mark.parametrize(
    ("reason", "phase", "bets"),
    [
        ("review_all", "explore", evidence.REVIEW_ALL_BETS),
        ("review_all", "monitor", evidence.REVIEW_ALL_BETS),
        ("low_confidence", "explore", evidence.FLOOR_BETS),
        ("audit", "explore", evidence.FLOOR_BETS),
        ("low_confidence", "monitor", evidence.MONITOR_BETS),
        ("audit", "monitor", evidence.MONITOR_BETS),
    ],
)
def test_the_bet_class_is_the_mode_and_audit_phase_a_draft_was_routed_in(
    reason: str, phase: str, bets: int
) -> None:
    assert bet_class(reason, phase) == bets  # type: ignore[arg-type]


@pytest.mark.parametrize("confidence", [0.90, 0.925, 0.95, 0.99])
def test_monitoring_audits_at_the_uniform_monitor_rate_whatever_the_score(
    confidence: float,
) -> None:
    audit = AuditPolicy(floor=0.02, near_threshold=0.10, near_width=0.05, monitor=0.004)
    assert audit_probability(confidence, 0.90, audit, phase="monitor") == pytest.approx(0.004)
    assert audit_probability(confidence, 0.90, audit, 5.0, "monitor") == pytest.approx(0.02)
    assert audit_probability(confidence, 0.90, audit) >= 0.02


def test_a_monitor_rate_above_the_floor_stops_the_policy_naming_both() -> None:
    with pytest.raises(ValidationError, match=r"monitor \(0.05\) must not exceed floor \(0.02\)"):
        AuditPolicy(floor=0.02, monitor=0.05)
    # Unset, it is the default rate, or the floor where a policy sets the floor under it.
    assert (AuditPolicy().monitor, AuditPolicy(floor=0.001).monitor) == (0.005, 0.001)


@pytest.mark.parametrize(
    ("bets", "q", "counted"),
    [
        (evidence.MONITOR_BETS, 0.005, True),
        (evidence.MONITOR_BETS, 0.004, False),  # an error would weigh more than the bets take
        (evidence.FLOOR_BETS, 0.005, False),
        (evidence.FLOOR_BETS, 0.02, True),
        (evidence.REVIEW_ALL_BETS, 0.5, False),
        (evidence.REVIEW_ALL_BETS, 1.0, True),
    ],
)
def test_a_draft_with_q_below_its_bet_class_is_left_out(bets: int, q: float, counted: bool) -> None:
    ev = evidence.Evidence(target=0.02, floor=0.02, monitor=0.005)
    assert evidence.routed(ev, at=0, score=0.95, q=q, bets=bets, reviewed=True) is counted
    assert np.isfinite(ev.open).all()


def test_a_type_with_nothing_looser_to_certify_monitors_and_an_alarm_explores_again(
    policy: Policy,
) -> None:
    ct = policy.content_types["customer_email"]
    s = certified_everywhere(policy)
    needed = evidence.needed(ct.target_escape_rate, ct.delta)
    assert s.audit_phase == "explore"  # not yet: one estimate must not end exploring for good
    for _ in range(needed):
        verdict_on(s, policy, confidence=0.97, q=ct.audit.floor, reason="audit", error=False)
    assert s.audit_phase == "monitor"
    clean = [Signal(name=n, value=0.0) for n in ("pii", "toxicity", "grounding")]
    scored = examples.scored_draft(
        draft=examples.draft(draft_id="m-1", content_type="customer_email"),
        score=examples.score(confidence=0.97, signals=clean),
    )
    routed = route(scored, s, policy, CONFIG, NOW)
    assert routed.audit_q == pytest.approx(ct.audit.monitor) and routed.audit_phase == "monitor"
    assert RoutingSnapshot.of(routed).audit_phase == "monitor"
    assert threshold_event(s, ct, NOW).audit_phase == "monitor"
    # Audited errors: the drift alarm tightens, boosts and explores again.
    while s.mode == "certified":
        verdict_on(s, policy, confidence=0.97, q=ct.audit.monitor, reason="audit", error=True)
    assert s.mode == "drift_tightened" and s.audit_boost_left > 0
    assert s.audit_phase == "explore"


def test_a_verdict_is_counted_only_in_the_phase_its_draft_was_routed_in(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    s = initial_state("customer_email", ct)
    s.mode, s.threshold = "default", ct.default_threshold
    draft = {"confidence": 0.95, "q": 0.01, "reason": "audit", "version": s.version, "at": 0}
    assert note_routed(s, reviewed=True, phase="monitor", **draft)  # type: ignore[arg-type]
    wrong = learn(s, **draft, phase="explore", error=False, ct=ct, config=CONFIG,  # type: ignore[arg-type]
                  now=0)  # fmt: skip
    assert not wrong.counted and s.unmatched_verdicts == 1
    right = learn(s, **draft, phase="monitor", error=False, ct=ct, config=CONFIG,  # type: ignore[arg-type]
                  now=0)  # fmt: skip
    assert right.counted


def test_a_state_stored_for_another_monitor_rate_starts_again(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    data = certified_everywhere(policy).to_dict()
    assert TypeState.from_dict(data, ct).mode == "certified"
    other = ct.model_copy(update={"audit": ct.audit.model_copy(update={"monitor": 0.001})})
    assert TypeState.from_dict(data, other).mode == "review_all"
    data["evidence"]["slices"][0][1][0][1] = 7  # a bet class that does not exist
    with pytest.raises(ValueError, match="bet class"):
        evidence.Evidence.from_dict(data["evidence"])


@pytest.mark.parametrize(
    ("q_min", "q", "rate"),
    [(1.0, 1.0, 0.0), (1.0, 1.0, 0.01), (0.02, 0.05, 0.01), (0.02, 0.02, 0.0)],
)
def test_expected_growth_is_the_best_bets_mean_log_growth(
    q_min: float, q: float, rate: float
) -> None:
    target = 0.02
    stakes = confseq.bets(target, q_min)
    means = rate * q * np.log1p(stakes * (target - 1 / q)) + (1 - rate * q) * np.log1p(
        stakes * target
    )
    assert confseq.expected_growth(target, q_min, rate, q) == pytest.approx(means.max())


def test_a_state_stored_before_the_monitor_phase_keeps_its_certificate(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    data = certified_everywhere(policy).to_dict()
    del data["evidence"]["monitor"]  # as the previous router stored it
    restored = TypeState.from_dict(data, ct)
    assert (restored.mode, restored.certified) == ("certified", CANDIDATES[-1])
    assert restored.evidence.monitor == ct.audit.monitor
    data["evidence"]["counts"] = "garbage"  # unreadable: starts again, never stops learning
    assert TypeState.from_dict(data, ct).mode == "review_all"


def test_a_tally_with_an_audit_below_its_bets_is_refused_whole(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    s = certified_everywhere(policy)
    drafts = s.evidence.total("drafts")
    cells = [(95, 995, 0, [ct.audit.monitor / 2] * 5)]  # a replica on a lower monitor rate
    on_tally(s, cells, review_all=False, phase="monitor", version=s.version, at=1, ct=ct,
             config=CONFIG, now=NOW)  # fmt: skip
    assert s.evidence.total("drafts") == drafts and s.refused_tallies == 1
    on_tally(s, [(95, 995, 0, [ct.audit.monitor] * 5)], review_all=False, phase="monitor",
             version=s.version, at=1, ct=ct, config=CONFIG, now=NOW)  # fmt: skip
    assert s.evidence.total("drafts") == drafts + 1000 and s.refused_tallies == 1


def test_an_audit_verdict_after_its_slice_was_fed_still_reaches_the_drift_alarm(
    policy: Policy,
) -> None:
    ct = policy.content_types["customer_email"]
    s = certified_everywhere(policy)
    draft = {"confidence": 0.97, "q": ct.audit.floor, "reason": "audit", "version": s.version,
             "at": 1, "phase": "explore"}  # fmt: skip
    assert note_routed(s, reviewed=True, drafts=1, **draft)  # type: ignore[arg-type]
    late = 1 + evidence.SLICES  # the slice has waited verdict_wait: fed, its verdict an error
    learnt = learn(s, **draft, error=True, ct=ct, config=CONFIG, now=late)  # type: ignore[arg-type]
    assert learnt.counted  # (walked at once: the slice was still open)
    certify(s, ct, CONFIG, now=late + 1)
    assert s.evidence.closed_through >= 1
    before = s.cusum
    learnt = learn(s, **draft, error=True, ct=ct, config=CONFIG, now=late + 1)  # type: ignore[arg-type]
    assert not learnt.counted and s.cusum > before


def test_the_explore_phase_is_left_out_of_events_so_older_readers_still_read_them() -> None:
    routed = examples.routed_draft()
    assert routed.audit_phase == "explore" and "audit_phase" not in routed.model_dump(mode="json")
    monitored = routed.model_copy(update={"audit_phase": "monitor"})
    body = monitored.model_dump_json()
    assert '"audit_phase":"monitor"' in body
    assert type(routed).model_validate_json(body).audit_phase == "monitor"
    snapshot = RoutingSnapshot.of(routed)
    assert "audit_phase" not in snapshot.model_dump(mode="json")
    assert RoutingSnapshot.of(monitored).model_dump(mode="json")["audit_phase"] == "monitor"
    tally = RoutingTally(content_type="chat_reply", threshold_version=1, slice=3, review_all=False,
                         cells=[])  # fmt: skip
    assert "audit_phase" not in tally.model_dump(mode="json")


def test_a_floor_given_as_text_under_the_default_monitor_rate_monitors_at_it() -> None:
    assert AuditPolicy.model_validate({"floor": "0.003"}).monitor == pytest.approx(0.003)
