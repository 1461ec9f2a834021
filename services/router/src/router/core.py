"""The router's policy: route a scored draft, learn from a decision, certify thresholds.

Plain functions over plain data (`TypeState` per content type); the faust app and the offline
replay both call these, so what is backtested is what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hitl_runtime import edits
from hitl_runtime.policy import ContentTypePolicy, Policy, Sla
from hitl_schemas import (
    Decision,
    Evidence,
    RoutedDraft,
    RouteReason,
    ScoredDraft,
    Signal,
    ThresholdState,
)
from hitl_schemas.events import Priority, RouteReasonKind, ThresholdMode
from router.audit import audit_probability, sampled, uniform
from router.certify import escape_estimate, fixed_sequence, upper_bound
from router.drift import DriftSettings, alarm, cusum_step, nudge
from router.ledger import Ledger

# Candidate thresholds, strict to loose: the order of the fixed-sequence walk.
CANDIDATES = [round(i / 100, 2) for i in range(99, 49, -1)]


@dataclass(frozen=True)
class RouterConfig:
    recertify_every: int = 25
    audit_boost: float = 5.0
    boost_audits: int = 300  # audited verdicts at the raised audit rate after a drift alarm
    audit_seed: str = "hitl-audit"
    drift: DriftSettings = DriftSettings()


@dataclass
class TypeState:
    content_type: str
    threshold: float
    mode: ThresholdMode
    certified: float | None = None
    version: int = 0
    nudge: float = 0.0
    cusum: float = 0.0
    audit_boost_left: int = 0
    since_certification: int = 0
    estimate: float | None = None
    bound: float | None = None
    reason: str = "configured default"
    # The strictest threshold ever certified, and the floor a drift alarm set: an alarm serves
    # the strictest of these and the threshold it found, never anything looser.
    strictest_certified: float | None = None
    drift_floor: float | None = None
    ledger: Ledger = field(default_factory=lambda: Ledger(half_life=20_000))

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "ledger"}
        return data | {"ledger": self.ledger.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TypeState:
        return cls(**(data | {"ledger": Ledger.from_dict(data["ledger"])}))


def initial_state(content_type: str, ct: ContentTypePolicy) -> TypeState:
    return TypeState(
        content_type=content_type,
        threshold=1.0 if ct.high_risk else ct.default_threshold,
        mode="review_all" if ct.high_risk else "default",
        reason="high-risk type: every draft reviewed until a threshold is certified"
        if ct.high_risk
        else "configured default until enough evidence",
        ledger=Ledger(half_life=ct.decay_half_life_items, floor=ct.audit.floor),
    )


# --- Routing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    route: Literal["auto_approved", "needs_review"]
    reason: RouteReasonKind
    q: float
    rule: str | None = None
    tier: str | None = None
    priority: Priority | None = None


def hard_rule(
    signals: list[Signal], ct: ContentTypePolicy
) -> tuple[str, str | None, Priority | None] | None:
    """The first hard rule a draft trips: (rule name, tier, priority). A rule whose signal
    failed counts as tripped: what could not be checked is reviewed."""
    by_name = {s.name: s for s in signals}
    for rule in ct.hard_rules:
        signal = by_name.get(rule.signal)
        if signal is None or signal.failed:
            return f"{rule.name} (signal {rule.signal} unavailable)", rule.tier, rule.priority
        if signal.value >= rule.at_least:
            return rule.name, rule.tier, rule.priority
    return None


def failed_signals(signals: list[Signal], ct: ContentTypePolicy) -> str | None:
    """What failed, when a signal failed on the draft and the type's policy reviews such drafts
    (`on_signal_failure: review`, the default): a failed signal did not look at the draft, and
    its missing risk would otherwise raise the confidence."""
    if ct.on_signal_failure == "ignore":
        return None
    failed = [f"{s.name} ({s.error or 'no error reported'})" for s in signals if s.failed]
    return "; ".join(failed) if failed else None


def choose(
    draft_id: str,
    confidence: float,
    tripped: tuple[str, str | None, Priority | None] | None,
    state: TypeState,
    ct: ContentTypePolicy,
    config: RouterConfig,
    failed: str | None = None,
) -> Choice:
    if tripped is not None:
        name, tier, priority = tripped
        return Choice("needs_review", "hard_rule", 1.0, rule=name, tier=tier, priority=priority)
    if failed is not None:
        return Choice("needs_review", "signal_failed", 1.0, rule=failed)
    if state.mode == "review_all":
        return Choice("needs_review", "review_all", 1.0)
    if confidence < state.threshold:
        return Choice("needs_review", "low_confidence", 1.0)
    boost = config.audit_boost if state.audit_boost_left > 0 else 1.0
    q = audit_probability(confidence, state.threshold, ct.audit, boost)
    if sampled(draft_id, q, config.audit_seed):
        return Choice("needs_review", "audit", q, priority="low")
    return Choice("auto_approved", "above_threshold", q)


def route(
    scored: ScoredDraft,
    state: TypeState | None,
    policy: Policy,
    config: RouterConfig,
    now: datetime,
) -> RoutedDraft:
    draft, score = scored.draft, scored.score
    ct = policy.for_type(draft.content_type)
    if ct is None or state is None:
        choice = Choice("needs_review", "unknown_content_type", 1.0)
        tier, threshold, version, sla = policy.unknown_content_type_tier, 1.0, 0, Sla()
        priority: Priority = "normal"
    else:
        tripped = hard_rule(score.signals, ct)
        failed = failed_signals(score.signals, ct)
        choice = choose(draft.draft_id, score.confidence, tripped, state, ct, config, failed)
        tier, priority = choice.tier or ct.tier, choice.priority or ct.priority
        threshold, version, sla = state.threshold, state.version, ct.sla
        if (
            state.audit_boost_left > 0
            and choice.route == "auto_approved"
            or choice.reason == "audit"
        ):
            state.audit_boost_left = max(0, state.audit_boost_left - 1)
    detail = {
        "hard_rule": f"hard rule {choice.rule}",
        "review_all": "every draft of this type is reviewed",
        "low_confidence": f"confidence {score.confidence:.3f} < threshold {threshold:.2f}",
        "audit": f"audit sample (q={choice.q:.3f}) above threshold {threshold:.2f}",
        "above_threshold": f"confidence {score.confidence:.3f} >= threshold {threshold:.2f}",
        "unknown_content_type": f"content type {draft.content_type!r} is not in the policy",
        "signal_failed": f"signal failed: {choice.rule}; policy on_signal_failure is review",
    }[choice.reason]
    rule = choice.rule[:2000] if choice.rule is not None else None
    return RoutedDraft(
        draft=draft,
        score=score,
        route=choice.route,
        reason=RouteReason(kind=choice.reason, rule=rule, detail=detail[:2000]),
        threshold=threshold,
        threshold_version=version,
        audit=choice.reason == "audit",
        audit_q=choice.q,
        tier=tier,
        priority=priority,
        due_at=now + sla.for_priority(priority),
        routed_at=now,
    )


# --- Learning ----------------------------------------------------------------------------------


def in_uniform_sample(draft_id: str, ct: ContentTypePolicy, config: RouterConfig) -> bool:
    """Was this audit drawn by the floor rate alone (u < floor), whatever its score?"""
    return uniform(draft_id, config.audit_seed) < ct.audit.floor


def is_error(decision: Decision, ct: ContentTypePolicy) -> bool:
    """A reject, or an edit larger than the type's trivial-edit bound."""
    return edits.is_error(
        decision.verdict, decision.draft.text, decision.final_text, ct.trivial_edit_chars
    )


def learn(
    state: TypeState,
    *,
    confidence: float,
    q: float,
    audit: bool,
    error: bool,
    ct: ContentTypePolicy,
    config: RouterConfig,
    uniform_audit: bool = False,
) -> bool:
    """Record one human verdict; returns True when the serving threshold or mode changed."""
    before = (state.threshold, state.mode)
    state.ledger.record(confidence, q=q, error=error, audit=audit, uniform=uniform_audit)
    state.since_certification += 1
    if uniform_audit:
        # Only the uniform part of the audit sample (u < floor) estimates the escape rate
        # without weights; the extra audits near the threshold are biased towards errors.
        state.nudge = nudge(state.nudge, error, ct.target_escape_rate, config.drift)
        state.cusum = cusum_step(state.cusum, error, ct.target_escape_rate, config.drift)
        if alarm(state.cusum, config.drift):
            _tighten(state, ct, config, why=ALARM)
    if audit:
        state.audit_boost_left = max(0, state.audit_boost_left - 1)
    if state.since_certification >= config.recertify_every:
        certify(state, ct, config)
    else:
        _apply_serving_threshold(state, ct)
    return (state.threshold, state.mode) != before


def _tighten(
    state: TypeState,
    ct: ContentTypePolicy,
    config: RouterConfig,
    *,
    why: str,
    review_all: bool = False,
) -> None:
    """The evidence says errors run above target (a drift alarm, or a re-certification that
    found the certificate broken): serve the strictest of the threshold in force, the strictest
    certified so far and max(default, 0.95), or review all (`review_all`, and a type reviewed in
    full stays so), and re-certify on evidence from now on only. Never looser than before: the
    default threshold is looser than most certificates, so falling back to it would loosen the
    gate exactly when it was found leaking."""
    state.certified = None
    state.nudge = 0.0
    state.cusum = 0.0
    state.audit_boost_left = config.boost_audits
    state.ledger = Ledger(half_life=ct.decay_half_life_items, floor=ct.audit.floor)
    state.version += 1
    if review_all or state.mode == "review_all":
        state.mode, state.threshold, state.drift_floor = "review_all", 1.0, None
        state.reason = f"{why}: reviewing all, re-certifying"
        return
    state.mode = "drift_tightened"
    state.drift_floor = min(
        1.0, max(_drift_base(ct), state.threshold, state.strictest_certified or 0.0)
    )
    state.threshold = state.drift_floor
    state.reason = f"{why}: tightened, re-certifying"


ALARM = "audited errors rose above target (CUSUM alarm)"


def _drift_base(ct: ContentTypePolicy) -> float:
    return max(ct.default_threshold, 0.95)


def _base(state: TypeState, ct: ContentTypePolicy) -> float:
    if state.mode == "certified" and state.certified is not None:
        return state.certified
    if state.mode == "drift_tightened":
        return max(_drift_base(ct), state.drift_floor or 0.0)
    if state.mode == "review_all":
        return 1.0
    return ct.default_threshold


def _apply_serving_threshold(state: TypeState, ct: ContentTypePolicy) -> None:
    serving = (
        1.0 if state.mode == "review_all" else min(1.0, round(_base(state, ct) + state.nudge, 4))
    )
    if abs(serving - state.threshold) >= 0.005 or (serving == 1.0) != (state.threshold == 1.0):
        state.threshold = serving
        state.version += 1


def certify(state: TypeState, ct: ContentTypePolicy, config: RouterConfig) -> None:
    """Re-run the fixed-sequence walk on the evidence; update mode, threshold and estimates."""
    state.since_certification = 0
    ledger = state.ledger
    enough = ledger.total("labelled") >= ct.min_evidence
    tails = ledger.tails(CANDIDATES)
    result = fixed_sequence(CANDIDATES, tails, ct.target_escape_rate, ct.delta)
    if enough and result.threshold is not None:
        state.mode, state.certified = "certified", result.threshold
        state.strictest_certified = max(state.strictest_certified or 0.0, result.threshold)
        state.drift_floor = None
        state.reason = f"certified at {result.threshold:.2f} (delta {ct.delta})"
    elif state.mode == "certified" and state.certified is not None:
        # Inconclusive is not a violation: after the threshold loosens, the range above it is
        # known only through the thin audit sample and needs time to certify again. Keep the
        # certificate unless the evidence says it is broken; sharp drift is the CUSUM's job.
        [at_certified] = ledger.tails([state.certified])
        estimate = escape_estimate(at_certified)
        if estimate is not None and estimate > ct.target_escape_rate and enough:
            why = f"estimated escapes {estimate:.3f} above target: certificate dropped"
            _tighten(state, ct, config, why=why, review_all=ct.high_risk)
    elif enough and state.mode == "default":
        [at_default] = ledger.tails([ct.default_threshold])
        estimate = escape_estimate(at_default)
        if estimate is not None and estimate > ct.target_escape_rate:
            state.mode = "review_all"
            state.reason = f"escapes at the default threshold estimated {estimate:.3f} > target"
            # Certify again on fully reviewed evidence only. The audits taken while the default
            # served are few but carry weight 1/q; kept, their wide bound would block every
            # candidate long after review-all has produced thousands of clean verdicts.
            state.ledger = Ledger(half_life=ct.decay_half_life_items, floor=ct.audit.floor)
    _apply_serving_threshold(state, ct)
    [at_serving] = ledger.tails([min(state.threshold, 0.99)])
    state.estimate = escape_estimate(at_serving)
    state.bound = upper_bound(at_serving, ct.delta)


def threshold_event(state: TypeState, ct: ContentTypePolicy, now: datetime) -> ThresholdState:
    ledger = state.ledger
    return ThresholdState(
        content_type=state.content_type,
        threshold=state.threshold,
        version=state.version,
        mode=state.mode,
        target_escape_rate=ct.target_escape_rate,
        delta=ct.delta,
        escape_estimate=state.estimate,
        escape_upper_bound=state.bound,
        evidence=Evidence(
            items=ledger.total("labelled"),
            errors=ledger.total("errors"),
            audits=ledger.total("audits"),
            audit_errors=ledger.total("audit_errors"),
        ),
        audit_boost=state.audit_boost_left > 0,
        reason=state.reason[:2000],
        updated_at=now,
    )


def on_decision(
    state: TypeState, decision: Decision, ct: ContentTypePolicy, config: RouterConfig, now: datetime
) -> tuple[TypeState, list[ThresholdState]]:
    """`decide(state, event) -> (state, outputs)` for a human decision."""
    snap = decision.routing
    if decision.fallback_applied or snap.reason in (
        "hard_rule",
        "unknown_content_type",
        "signal_failed",
    ):
        return state, []  # no human verdict on an eligible draft: not evidence
    version = state.version
    changed = learn(
        state,
        confidence=snap.confidence,
        q=snap.audit_q if snap.audit else 1.0,
        audit=snap.audit,
        error=is_error(decision, ct),
        ct=ct,
        config=config,
        uniform_audit=snap.audit and in_uniform_sample(decision.draft_id, ct, config),
    )
    if changed or state.version != version or state.since_certification == 0:
        return state, [threshold_event(state, ct, now)]
    return state, []
