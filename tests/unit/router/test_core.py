from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hitl_runtime.policy import Policy, load_policy
from hitl_schemas import Signal, examples
from router import evidence
from router.core import (
    RouterConfig,
    TypeState,
    certify,
    initial_state,
    learn,
    note_routed,
    on_decision,
    route,
    slice_at,
)
from router.drift import DriftSettings
from router.replay import Record, replay

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
CONFIG = RouterConfig()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policy" / "default.yaml")


def scored(
    content_type: str = "customer_email",
    confidence: float = 0.95,
    draft_id: str = "d-1",
    signals: list[Signal] | None = None,
) -> Any:
    clean = [Signal(name=n, value=0.0) for n in ("pii", "toxicity", "grounding")]
    return examples.scored_draft(
        draft=examples.draft(draft_id=draft_id, content_type=content_type),
        score=examples.score(
            confidence=confidence, signals=signals if signals is not None else clean
        ),
    )


def state(policy: Policy, content_type: str = "customer_email", **changes: Any) -> TypeState:
    """A type's state; on its default threshold unless told otherwise (a type starts reviewing
    all: `test_a_type_starts_by_reviewing_all_unless_its_policy_says_otherwise`)."""
    ct = policy.content_types[content_type]
    s = initial_state(content_type, ct)
    if not ct.high_risk:
        s.mode, s.threshold = "default", ct.default_threshold
    for key, value in changes.items():
        setattr(s, key, value)
    return s


def routed_then_learnt(
    s: TypeState, policy: Policy, *, confidence: float, q: float, reason: Any, error: bool,
    config: RouterConfig = CONFIG, at: int = 0,
) -> None:  # fmt: skip
    """A draft routed to a human, then its verdict: what the route stage's tally and the
    decision tell the learner, in that order."""
    ct = policy.content_types[s.content_type]
    version = s.version
    draft = {"confidence": confidence, "q": q, "reason": reason, "version": version, "at": at,
             "phase": s.audit_phase}  # fmt: skip
    assert note_routed(s, reviewed=True, **draft)
    learnt = learn(s, **draft, error=error, ct=ct, config=config, now=at)
    assert learnt.counted


def test_a_type_starts_by_reviewing_all_unless_its_policy_says_otherwise(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    assert ct.cold_start == "review_all"
    s = initial_state("customer_email", ct)
    assert (s.mode, s.threshold) == ("review_all", 1.0)
    risky = initial_state(
        "customer_email", ct.model_copy(update={"cold_start": "default_threshold"})
    )
    assert (risky.mode, risky.threshold) == ("default", ct.default_threshold)
    legal = policy.content_types["legal_clause"]
    high_risk = legal.model_copy(update={"cold_start": "default_threshold"})
    assert initial_state("legal_clause", high_risk).mode == "review_all"  # high risk wins


def _audit_free_id(q: float) -> str:
    from router.audit import sampled

    return next(f"d-{i}" for i in range(1000) if not sampled(f"d-{i}", q))


@pytest.mark.parametrize(
    ("case", "route_to", "reason", "rule"),
    [
        ("pii", "needs_review", "hard_rule", "pii_found"),
        ("toxic", "needs_review", "hard_rule", "toxic_language"),
        ("pii_failed", "needs_review", "hard_rule", "pii_found (signal pii unavailable)"),
        ("low", "needs_review", "low_confidence", None),
        ("high", "auto_approved", "above_threshold", None),
    ],
)
def test_routing_case_table(
    policy: Policy, case: str, route_to: str, reason: str, rule: str | None
) -> None:
    signals = {
        "pii": [Signal(name="pii", value=1.0), Signal(name="toxicity", value=0.0)],
        "toxic": [Signal(name="pii", value=0.0), Signal(name="toxicity", value=0.95)],
        "pii_failed": [
            Signal(name="pii", value=0.0, failed=True, error="boom"),
            Signal(name="toxicity", value=0.0),
        ],
    }.get(case)
    confidence = 0.5 if case == "low" else 0.999
    draft_id = _audit_free_id(0.2)
    routed = route(
        scored(confidence=confidence, draft_id=draft_id, signals=signals),
        state(policy),
        policy,
        CONFIG,
        NOW,
    )
    assert (routed.route, routed.reason.kind, routed.reason.rule) == (route_to, reason, rule)
    assert routed.threshold == 0.88
    assert routed.due_at > routed.routed_at
    if case == "toxic":
        assert routed.priority == "high"


def test_unknown_content_type_is_never_auto_approved(policy: Policy) -> None:
    routed = route(scored(content_type="poem", confidence=1.0), None, policy, CONFIG, NOW)
    assert routed.route == "needs_review"
    assert routed.reason.kind == "unknown_content_type"
    assert routed.tier == "senior"


def test_high_risk_types_are_reviewed_in_full_until_certified(policy: Policy) -> None:
    routed = route(
        scored(content_type="legal_clause", confidence=1.0),
        state(policy, "legal_clause"),
        policy,
        CONFIG,
        NOW,
    )
    assert (routed.route, routed.reason.kind, routed.tier) == (
        "needs_review",
        "review_all",
        "senior",
    )


def test_audits_are_sampled_above_the_threshold_with_their_q(policy: Policy) -> None:
    routed = [
        route(scored(confidence=0.885, draft_id=f"a-{i}"), state(policy), policy, CONFIG, NOW)
        for i in range(2_000)
    ]
    audits = [r for r in routed if r.audit]
    assert 0.08 < len(audits) / len(routed) < 0.14  # q = 0.02 + 0.10 * (1 - 0.005/0.05) = 0.11
    assert all(r.reason.kind == "audit" and r.audit_q == pytest.approx(0.11) for r in audits)
    assert all(r.route == "auto_approved" for r in routed if not r.audit)


def decision(verdict: str, final_text: str | None, reason: str = "audit", **snap: Any) -> Any:
    routing = examples.routing_snapshot().model_copy(update={"reason": reason, **snap})
    return examples.decision(verdict=verdict, final_text=final_text, routing=routing)


@pytest.mark.parametrize(
    ("verdict", "edit", "error"),
    [
        ("approve", None, False),
        ("reject", None, True),
        ("edit", "tiny", False),
        ("edit", "big", True),
    ],
)
def test_an_error_is_a_reject_or_an_edit_beyond_the_trivial_bound(
    policy: Policy, verdict: str, edit: str | None, error: bool
) -> None:
    original = examples.draft().text
    final = {
        "tiny": original.replace("Hi Dana", "Hi Dana!"),
        "big": "Something else entirely.",
        None: original if verdict == "approve" else None,
    }[edit]
    ct = policy.content_types["customer_email"]
    s = state(policy)
    event = decision(verdict, final)
    snap = event.routing
    note_routed(s, confidence=snap.confidence, q=snap.audit_q, reason=snap.reason, reviewed=True,
                phase=snap.audit_phase, version=snap.threshold_version,
                at=slice_at(snap.routed_at, ct))  # fmt: skip
    s, _ = on_decision(s, event, ct, CONFIG, NOW)
    assert s.evidence.total("labelled") == 1
    assert s.evidence.total("errors") == (1 if error else 0)
    assert s.unmatched_verdicts == 0


def test_a_verdict_on_a_draft_never_routed_teaches_nothing(policy: Policy) -> None:
    ct = policy.content_types["customer_email"]
    s, _ = on_decision(state(policy), decision("approve", examples.draft().text), ct, CONFIG, NOW)
    assert s.evidence.total("labelled") == 0 and s.unmatched_verdicts == 1
    assert not s.evidence.open.any()


@pytest.mark.parametrize("kind", ["hard_rule", "unknown_content_type"])
def test_decisions_on_ineligible_drafts_are_not_evidence(policy: Policy, kind: str) -> None:
    s, out = on_decision(
        state(policy),
        decision("reject", None, reason=kind),
        policy.content_types["customer_email"],
        CONFIG,
        NOW,
    )
    assert s.evidence.total("labelled") == 0 and out == []


def test_sla_fallbacks_are_not_evidence(policy: Policy) -> None:
    event = decision("approve", None).model_copy(update={"fallback_applied": True})
    s, _ = on_decision(state(policy), event, policy.content_types["customer_email"], CONFIG, NOW)
    assert s.evidence.total("labelled") == 0


def stream(
    n: int,
    seed: int,
    defect_scale: float = 0.25,
    start: int = 0,
    overconfident: float | None = None,
) -> Iterator[Record]:
    """Scores ~ Beta(8, 1.5), defects more likely at low confidence; `overconfident`: scores
    ~ Beta(40, 1), nearly all high, and defects at that flat rate whatever the score."""
    rng = random.Random(seed)
    for i in range(start, start + n):
        content_type = rng.choice(["customer_email", "chat_reply", "refund_offer", "legal_clause"])
        if overconfident is None:
            confidence = rng.betavariate(8, 1.5)
            defect = rng.random() < (1 - confidence) * defect_scale
        else:
            confidence = rng.betavariate(40, 1)
            defect = rng.random() < overconfident
        yield Record(f"r{seed}-{i}", content_type, confidence, defect)


@pytest.mark.parametrize("seed", [1, 2])
def test_certified_escape_rate_stays_under_target_and_saves_reviews(
    policy: Policy, seed: int
) -> None:
    result = replay(stream(120_000, seed), policy, CONFIG, delay=100)
    saved_somewhere = False
    for name, outcome in result.by_type.items():
        target = policy.content_types[name].target_escape_rate
        if outcome.certified_auto_approved >= 300:
            assert outcome.certified_escape_rate <= target, name
            saved_somewhere = saved_somewhere or outcome.review_rate < 0.98
    assert saved_somewhere, "no content type ever auto-approved a meaningful share"


def test_a_jump_in_defects_trips_the_drift_detector_and_never_loosens(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.core as core

    calm = list(stream(80_000, 3))
    # The scorer turns overconfident: 15 % defects, nearly every draft above the threshold.
    worse = list(stream(60_000, 4, start=80_000, overconfident=0.15))
    result = replay(calm, policy, RouterConfig(), delay=50)
    certified = [n for n, s in result.states.items() if s.mode == "certified"]
    assert certified
    alarms: list[str] = []
    tighten = core._tighten

    def recording(state: TypeState, ct: Any, cfg: RouterConfig, **kwargs: Any) -> None:
        alarms.append(state.content_type)  # a drift alarm, or a certificate found broken
        tighten(state, ct, cfg, **kwargs)

    monkeypatch.setattr(core, "_tighten", recording)
    # Continue the same states through the worse stream, each verdict at once: at each alarm
    # the serving threshold after the verdict is at least the one before it.
    config = RouterConfig()
    loosened: list[tuple[str, float, float]] = []
    for index, record in enumerate(worse, start=len(calm)):
        ct = policy.content_types[record.content_type]
        s = result.states[record.content_type]
        choice = core.choose(record.draft_id, record.confidence, None, s, ct, config)
        at = slice_at(float(index), ct)
        reviewed = choice.route == "needs_review"
        phase = s.audit_phase
        core.note_routed(s, confidence=record.confidence, q=choice.q, reason=choice.reason,
                         phase=phase, reviewed=reviewed, version=s.version, at=at)  # fmt: skip
        if choice.route == "needs_review":
            before, seen = s.threshold, len(alarms)
            core.learn(
                s,
                confidence=record.confidence,
                q=choice.q,
                reason=choice.reason,
                phase=phase,
                version=s.version,
                at=at,
                error=record.defect,
                ct=ct,
                config=config,
                now=at,
            )
            if len(alarms) > seen and s.threshold < before:
                loosened.append((record.content_type, before, s.threshold))
    assert set(alarms) & set(certified), "no certified type raised a drift alarm"
    assert loosened == []


# (mode, certified, strictest certified, threshold served) before a drift alarm on
# customer_email (default 0.88) -> (mode, threshold) after it.
DRIFT_ALARM_CASES = [
    ("certified", 0.98, 0.98, 0.98, "drift_tightened", 0.98),  # the bug: was 0.95
    ("certified", 0.90, 0.90, 0.90, "drift_tightened", 0.95),  # max(default, 0.95)
    ("certified", 0.90, 0.90, 0.96, "drift_tightened", 0.96),  # served stricter: kept
    ("certified", 0.90, 0.97, 0.90, "drift_tightened", 0.97),  # strictest earlier certificate
    ("certified", 0.99, 0.99, 1.0, "drift_tightened", 1.0),
    ("default", None, None, 0.88, "drift_tightened", 0.95),
    ("default", None, None, 0.98, "drift_tightened", 0.98),
    ("drift_tightened", None, 0.96, 0.97, "drift_tightened", 0.97),  # a second alarm
    ("review_all", None, None, 1.0, "review_all", 1.0),  # was drift_tightened at 0.95
]


@pytest.mark.parametrize(
    ("mode", "certified", "strictest", "served", "mode_after", "after"),
    DRIFT_ALARM_CASES,
)
def test_a_drift_alarm_serves_the_strictest_threshold_it_knows(
    policy: Policy,
    mode: str,
    certified: float | None,
    strictest: float | None,
    served: float,
    mode_after: str,
    after: float,
) -> None:
    ct = policy.content_types["customer_email"]
    s = state(policy, mode=mode, certified=certified, strictest_certified=strictest,
              threshold=served, drift_floor=0.97 if mode == "drift_tightened"
              else None, cusum=CONFIG.drift.h)  # fmt: skip
    version = s.version
    # One audited escape: the CUSUM, already at h, passes it.
    routed_then_learnt(s, policy, confidence=0.995, q=ct.audit.floor, reason="audit",
                       error=True)  # fmt: skip
    assert (s.mode, s.threshold) == (mode_after, after)
    assert s.threshold >= served
    assert s.cusum == 0.0 and s.version > version
    # The certificate restarts from the alarm: drafts routed from the new version on.
    assert s.evidence.total("drafts") == 0 and s.evidence.since_version == s.version
    # Clean verdicts after the alarm do not walk the threshold back down either.
    for _ in range(CONFIG.recertify_every * 2):
        routed_then_learnt(s, policy, confidence=0.995, q=ct.audit.floor, reason="audit",
                           error=False)  # fmt: skip
    assert (s.mode, s.threshold) == (mode_after, after)


def test_a_state_stored_before_the_drift_floor_existed_still_loads(policy: Policy) -> None:
    data = state(policy).to_dict()
    for key in ("strictest_certified", "drift_floor"):
        data.pop(key)
    restored = TypeState.from_dict(
        json.loads(json.dumps(data)), policy.content_types["customer_email"]
    )
    assert restored.strictest_certified is None and restored.drift_floor is None


def test_a_state_stored_before_the_anytime_valid_certificate_starts_again(policy: Policy) -> None:
    """A value from before this certificate holds a decayed `ledger`, no `evidence`: that
    evidence tested another statistic, so the type starts again (reviewing all), one version on.
    So does a state whose evidence was for another target."""
    ct = policy.content_types["customer_email"]
    data = state(policy, mode="certified", certified=0.9, threshold=0.9, version=7).to_dict()
    old = {k: v for k, v in data.items() if k != "evidence"} | {
        "ledger": {},
        "since_certification": 3,
    }
    restored = TypeState.from_dict(old, ct)
    assert (restored.mode, restored.threshold, restored.version) == ("review_all", 1.0, 8)
    assert restored.evidence.since_version == 8
    stricter = ct.model_copy(update={"target_escape_rate": 0.01})
    assert TypeState.from_dict(data, stricter).mode == "review_all"
    assert TypeState.from_dict(data, ct).mode == "certified"


def test_a_certificate_remembers_the_strictest_threshold(policy: Policy) -> None:
    policy.content_types["customer_email"]
    s = state(policy, mode="review_all", threshold=1.0)
    for _ in range(1500):
        routed_then_learnt(s, policy, confidence=0.97, q=1.0, reason="review_all", error=False)
    assert s.mode == "certified" and s.certified is not None
    assert s.strictest_certified == s.certified


def test_a_decision_replayed_after_a_crash_is_applied_once(policy: Policy) -> None:
    from router.app import apply_decision, apply_tally
    from router.tally import RoutingTally, TallyCell

    ct = policy.content_types["customer_email"]
    event = decision("reject", None, reason="low_confidence", audit=False, audit_q=1.0)
    snap = event.routing
    tally = RoutingTally(
        content_type="customer_email",
        threshold_version=snap.threshold_version,
        slice=slice_at(snap.routed_at, ct),
        review_all=False,
        cells=[TallyCell(bucket=93, reviewed=2, audit_q=[])],
    )
    routed, _ = apply_tally(None, tally, 0, 40, policy, CONFIG, NOW)
    assert routed is not None and apply_tally(routed, tally, 0, 40, policy, CONFIG, NOW)[0] is None
    first, _ = apply_decision(routed, event, 0, 41, policy, CONFIG, NOW)
    assert first is not None
    again, published = apply_decision(first, event, 0, 41, policy, CONFIG, NOW)
    assert again is None and published == []
    next_one = event.model_copy(update={"decision_id": "another"})
    later, _ = apply_decision(first, next_one, 0, 42, policy, CONFIG, NOW)
    assert later is not None
    learnt = TypeState.from_dict(later["state"], ct)
    assert learnt.evidence.total("errors") == 2 and learnt.unmatched_verdicts == 0


def test_a_decision_sent_again_is_learnt_once_also_from_the_stored_value(policy: Policy) -> None:
    """review-api's relay re-sends a decision as a new record (a later offset, the same
    decision_id). The ids live in the stored value, which a restarted router restores from the
    table's changelog: the copy is recognised there, and the list stays bounded."""
    from router.app import RECENT_DECISIONS, apply_decision, resent

    event = decision("reject", None, reason="low_confidence", audit=False, audit_q=1.0)
    first, _ = apply_decision(None, event, 0, 41, policy, CONFIG, NOW)
    assert first is not None and resent(first, event)
    restored = json.loads(json.dumps(first))  # as the changelog gives it back
    again, published = apply_decision(restored, event, 0, 97, policy, CONFIG, NOW)
    assert again is None and published == []
    value = first
    for i in range(RECENT_DECISIONS + 10):
        other = event.model_copy(update={"decision_id": f"d-{i}"})
        value, _ = apply_decision(value, other, 0, 100 + i, policy, CONFIG, NOW)
        assert value is not None
    assert len(value["recent"]) == RECENT_DECISIONS and not resent(value, event)


def test_a_default_found_unsafe_goes_to_review_all_and_recertifies_on_fresh_evidence(
    policy: Policy,
) -> None:
    """Audits above the default threshold find too many errors: every draft is reviewed from
    then on, and certification starts again from the fully reviewed verdicts alone. (The drift
    alarm, which would tighten first, is held off: this is the estimate's own check.)"""
    ct = policy.content_types["customer_email"]
    s = state(policy)
    quiet = RouterConfig(drift=DriftSettings(h=1e9))
    for i in range(ct.min_evidence + CONFIG.recertify_every):
        routed_then_learnt(s, policy, confidence=0.95, q=0.02, reason="audit", error=i % 5 == 0,
                           config=quiet)  # fmt: skip
        if s.mode == "review_all":
            break
    assert s.mode == "review_all" and s.threshold == 1.0
    assert s.evidence.total("drafts") == 0 and 0 < s.evidence.since_version <= s.version
    for _ in range(1500):  # review-all: every verdict has q = 1, all clean at 0.97
        routed_then_learnt(s, policy, confidence=0.97, q=1.0, reason="review_all", error=False)
    assert s.mode == "certified" and s.threshold < 1.0


# (content type, certified, strictest certified) -> (mode, threshold) once a re-certification
# finds the certificate broken (escapes estimated above target at the certified threshold).
BREACH_CASES = [
    ("customer_email", 0.95, 0.95, "drift_tightened", 0.95),  # was "default" at 0.88
    ("customer_email", 0.90, 0.97, "drift_tightened", 0.97),  # the strictest ever certified
    ("legal_clause", 0.95, 0.95, "review_all", 1.0),  # high risk: every draft reviewed
]


@pytest.mark.parametrize(("content_type", "certified", "strictest", "mode_after", "after"),
                         BREACH_CASES)  # fmt: skip
def test_a_certificate_found_broken_tightens_and_never_serves_the_default(
    policy: Policy,
    content_type: str,
    certified: float,
    strictest: float,
    mode_after: str,
    after: float,
) -> None:
    ct = policy.content_types[content_type]
    s = state(policy, content_type, mode="certified", certified=certified,
              strictest_certified=strictest, threshold=certified)  # fmt: skip
    version = s.version
    # Enough reviewed verdicts above the certified threshold, one in ten an escape: far above
    # every target, so no candidate certifies and the estimate at the certificate breaks it.
    for i in range(ct.min_evidence):
        evidence.routed(s.evidence, at=0, score=0.995, q=1.0, bets=evidence.FLOOR_BETS,
                        reviewed=True)  # fmt: skip
        evidence.verdict(s.evidence, at=0, score=0.995, q=1.0, bets=evidence.FLOOR_BETS,
                         audit=False, error=i % 10 == 0)  # fmt: skip
    certify(s, ct, CONFIG)
    assert (s.mode, s.threshold) == (mode_after, after)
    assert s.threshold >= certified and s.threshold != ct.default_threshold
    assert s.certified is None and s.version > version
    assert "certificate dropped" in s.reason
    assert s.evidence.total("drafts") == 0  # re-certifies on evidence from now on
