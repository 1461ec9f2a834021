"""The router's policy: route a scored draft, learn from a decision, certify thresholds.

Plain functions over plain data (`TypeState` per content type); the faust app and the offline
replay both call these, so what is backtested is what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

import numpy as np

from hitl_runtime import edits
from hitl_runtime.policy import ContentTypePolicy, Policy, Sla
from hitl_schemas import (
    Decision,
    RoutedDraft,
    RouteReason,
    ScoredDraft,
    Signal,
    ThresholdState,
)
from hitl_schemas import (
    Evidence as EvidenceSummary,
)
from hitl_schemas.events import AuditPhase, Priority, RouteReasonKind, ThresholdMode
from router import evidence
from router.audit import audit_probability, sampled
from router.confseq import expected_growth
from router.drift import DriftSettings, alarm, baseline, cusum_step
from router.evidence import FLOOR_BETS, MONITOR_BETS, REVIEW_ALL_BETS, Evidence

# Candidate thresholds, strict to loose: the order of the fixed-sequence walk.
CANDIDATES = tuple(round(i / 100, 2) for i in range(99, 49, -1))


@dataclass(frozen=True)
class RouterConfig:
    # Verdicts of a type between two publications of its evidence when nothing else changed
    # (the certificate itself is re-walked at every verdict and tally: it is cheap).
    recertify_every: int = 25
    # Verdicts between two walks of the certificate (a route batch's tally is always walked):
    # a crossing found a few verdicts late is still a crossing, and a walk costs ~50 us.
    walk_every: int = 5
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
    # Verdicts labelled when exploring (reviewing all past a certificate) was first found not
    # worth it, -1 while it is: a single noisy estimate must not end it for good.
    explore_misses: int = -1
    # Audits at the floor and near the threshold ("explore") while a looser threshold is worth
    # certifying, at the light uniform monitor rate once none is; `monitor_misses` is
    # `explore_misses` for that choice.
    audit_phase: AuditPhase = "explore"
    monitor_misses: int = -1
    # Verdicts with no routed draft of their kind waiting (never routed by this router, or
    # learnt twice): refused by the certificate, counted here and in a metric.
    unmatched_verdicts: int = 0
    # Tallies refused whole: an audit in them had q below its bet class's q_min.
    refused_tallies: int = 0
    evidence: Evidence = field(
        default_factory=lambda: Evidence(target=0.02, floor=0.02, monitor=0.005)
    )  # replaced by `initial_state` and `from_dict`

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "evidence"}
        return data | {"evidence": self.evidence.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], ct: ContentTypePolicy) -> TypeState:
        """Read a stored state back. A state stored before the anytime-valid certificate (its
        decayed `ledger`), or with evidence for another target or audit rates than the policy's
        now, starts again as a new type would: that evidence tests another hypothesis. Evidence
        stored before audits had a monitor phase holds no monitored drafts, so its bets are the
        same under any monitor rate: it is read as the policy's."""
        known = {f for f in cls.__dataclass_fields__ if f != "evidence"}
        state = cls(**{k: v for k, v in data.items() if k in known})
        stored = data.get("evidence")
        if isinstance(stored, dict) and "monitor" not in stored:
            stored = stored | {"monitor": ct.audit.monitor}
        try:
            ev = Evidence.from_dict(stored) if isinstance(stored, dict) else None
        except ValueError:
            ev = None  # unreadable: start again rather than stop learning for the type
        if ev is None or (ev.target, ev.floor, ev.monitor) != _design(ct):
            fresh = initial_state(state.content_type, ct)
            fresh.version = state.version + 1
            fresh.evidence.since_version = fresh.version
            fresh.reason = f"{fresh.reason} (stored evidence was for another target or format)"
            return fresh
        state.evidence = ev
        return state


def _design(ct: ContentTypePolicy) -> tuple[float, float, float]:
    """What a certificate's evidence is for: the target and the audit rates its bets assume."""
    return ct.target_escape_rate, ct.audit.floor, ct.audit.monitor


def new_evidence(ct: ContentTypePolicy, since_version: int = 0) -> Evidence:
    target, floor, monitor = _design(ct)
    return Evidence(target=target, floor=floor, monitor=monitor, since_version=since_version)


def initial_state(content_type: str, ct: ContentTypePolicy) -> TypeState:
    if ct.high_risk or ct.cold_start == "review_all":
        mode: ThresholdMode = "review_all"
        why = "high-risk type" if ct.high_risk else "cold start (policy cold_start: review_all)"
        reason = f"{why}: every draft reviewed until a threshold is certified"
    else:
        mode, reason = "default", "cold start on the default threshold (policy cold_start)"
    return TypeState(
        content_type=content_type,
        threshold=1.0 if mode == "review_all" else ct.default_threshold,
        mode=mode,
        reason=reason,
        evidence=new_evidence(ct),
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
    q = audit_probability(confidence, state.threshold, ct.audit, boost, state.audit_phase)
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
        audit_phase="explore" if state is None else state.audit_phase,
        tier=tier,
        priority=priority,
        due_at=now + sla.for_priority(priority),
        routed_at=now,
    )


# --- Learning ----------------------------------------------------------------------------------


def is_error(decision: Decision, ct: ContentTypePolicy) -> bool:
    """A reject, or an edit larger than the type's trivial-edit bound."""
    return edits.is_error(
        decision.verdict, decision.draft.text, decision.final_text, ct.trivial_edit_chars
    )


# Why a draft is not evidence about the escape rate: the hard rules always send it to review,
# so no threshold would ever auto-approve it; an unknown type has no certificate at all.
NOT_EVIDENCE: frozenset[RouteReasonKind] = frozenset(
    {"hard_rule", "unknown_content_type", "signal_failed"}
)


def bet_class(reason: RouteReasonKind, phase: AuditPhase) -> int:
    """The bets a draft is counted with, fixed by the mode and audit phase it was routed in."""
    if reason == "review_all":
        return REVIEW_ALL_BETS
    return MONITOR_BETS if phase == "monitor" else FLOOR_BETS


def note_routed(
    state: TypeState,
    *,
    confidence: float,
    q: float,
    reason: RouteReasonKind,
    phase: AuditPhase,
    reviewed: bool,
    version: int,
    at: int,
    drafts: int = 1,
) -> bool:
    """Count routed drafts (of routing-time slice `at`) into the certificate, pending until
    their verdicts come; False when they are not evidence, were routed for an earlier
    certificate, or their slice was fed already."""
    if reason in NOT_EVIDENCE or not state.evidence.counts_version(version):
        return False
    return evidence.routed(state.evidence, at=at, score=confidence, q=q,
                           bets=bet_class(reason, phase), reviewed=reviewed,
                           drafts=drafts)  # fmt: skip


def slice_at(when: datetime | float, ct: ContentTypePolicy) -> int:
    """The routing-time slice of an instant (a datetime, or seconds since the epoch)."""
    seconds = when.timestamp() if isinstance(when, datetime) else when
    return evidence.slice_of(seconds, ct.verdict_wait)


@dataclass(frozen=True, slots=True)
class Learnt:
    changed: bool  # the serving threshold or mode changed
    counted: bool  # the verdict reached the certificate (a draft of its kind waited for it)


def learn(
    state: TypeState,
    *,
    confidence: float,
    q: float,
    reason: RouteReasonKind,
    phase: AuditPhase,
    version: int,
    at: int | None,
    error: bool,
    ct: ContentTypePolicy,
    config: RouterConfig,
    now: int,
) -> Learnt:
    """Record one human verdict on a draft routed for review in slice `at` (`note_routed`
    counted it); `now`: the current slice, to feed the slices that are complete."""
    before = (state.threshold, state.mode)
    audit = reason == "audit"
    p0 = _drift_baseline(state, confidence, ct) if audit else 0.0
    counted = (
        at is not None
        and state.evidence.counts_version(version)
        and evidence.verdict(state.evidence, at=at, score=confidence, q=q,
                             bets=bet_class(reason, phase), audit=audit, error=error)
    )  # fmt: skip
    state.since_certification += 1
    if not counted and state.evidence.counts_version(version):
        state.unmatched_verdicts += 1
    late = (
        at is not None and state.evidence.counts_version(version)
        and at <= state.evidence.closed_through
    )  # fmt: skip
    if audit and (counted or late):
        # Every audit, each against its own bucket's baseline (router.drift), a late one too
        # (its slice was fed already, the verdict counted an error there); a verdict refused
        # for any other reason (never routed here, or learnt twice) raises no alarm.
        state.cusum = cusum_step(state.cusum, error, p0, config.drift)
        if alarm(state.cusum, config.drift):
            _tighten(state, ct, config, why=ALARM)
    if audit:
        state.audit_boost_left = max(0, state.audit_boost_left - 1)
    if (
        state.since_certification % config.walk_every == 0
        or (state.threshold, state.mode) != before
    ):
        certify(state, ct, config, now=now)
    return Learnt((state.threshold, state.mode) != before, counted)


def _drift_baseline(state: TypeState, confidence: float, ct: ContentTypePolicy) -> float:
    """The error rate an audit at this score is tested against by the drift alarm."""
    counts = state.evidence.counts
    return baseline(counts["labelled"], counts["errors"], counts["drafts"],
                    bucket=evidence.bucket_of(confidence),
                    low=evidence.bucket_of(min(state.threshold, 0.99)),
                    target=ct.target_escape_rate)  # fmt: skip


def _tighten(
    state: TypeState,
    ct: ContentTypePolicy,
    config: RouterConfig,
    *,
    why: str,
    review_all: bool = False,
) -> None:
    """The evidence says errors run above target (a drift alarm, or a certificate found broken):
    serve the strictest of the threshold in force, the strictest certified so far and
    max(default, 0.95), or review all (`review_all`, and a type reviewed in full stays so), and
    restart the certificate from this change point: drafts routed from the new version on.
    Never looser than before: the default threshold is looser than most certificates, so
    falling back to it would loosen the gate exactly when it was found leaking."""
    state.certified = None
    state.cusum = 0.0
    state.audit_boost_left = config.boost_audits
    state.audit_phase, state.monitor_misses = "explore", -1
    state.version += 1
    state.evidence = new_evidence(ct, since_version=state.version)
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


ALARM = "audited errors rose above target (drift alarm)"


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
    serving = 1.0 if state.mode == "review_all" else min(1.0, round(_base(state, ct), 4))
    if abs(serving - state.threshold) >= 0.005 or (serving == 1.0) != (state.threshold == 1.0):
        state.threshold = serving
        state.version += 1


def certify(
    state: TypeState, ct: ContentTypePolicy, config: RouterConfig, *, now: int | None = None
) -> None:
    """Feed the complete slices (up to slice `now`), walk the candidates; update mode,
    threshold and estimates."""
    ev = state.evidence
    if now is not None:
        evidence.close(ev, now=now)
    enough = ev.total("labelled") >= ct.min_evidence
    result = evidence.walk(ev, CANDIDATES, ct.delta)
    if enough and _keep_exploring(state, result, ct):
        state.certified = result.threshold
        state.reason = (
            f"certified at {result.threshold:.2f} while reviewing all; reviewing on while a "
            "looser threshold may still certify"
        )
    elif enough and result.threshold is not None:
        if (state.mode, state.certified) != ("certified", result.threshold):
            state.reason = f"certified at {result.threshold:.2f} (delta {ct.delta})"
        state.mode, state.certified = "certified", result.threshold
        state.strictest_certified = max(state.strictest_certified or 0.0, result.threshold)
        state.drift_floor = None
    elif state.mode == "certified" and state.certified is not None:
        # A certificate once reached holds (the e-value crossed; the test is anytime-valid),
        # unless the evidence since says it is broken: then tighten and restart. Sharp drift is
        # the CUSUM's job.
        estimate = ev.estimate(state.certified)
        if estimate is not None and estimate > ct.target_escape_rate and enough:
            why = f"estimated escapes {estimate:.3f} above target: certificate dropped"
            _tighten(state, ct, config, why=why, review_all=ct.high_risk)
    elif enough and state.mode == "default":
        estimate = ev.estimate(ct.default_threshold)
        if estimate is not None and estimate > ct.target_escape_rate:
            state.mode = "review_all"
            state.reason = f"escapes at the default threshold estimated {estimate:.3f} > target"
            # Certify again on fully reviewed drafts only: those routed under the default
            # bet with the audit floor and would slow the review-all certificate down.
            state.version += 1
            state.evidence = new_evidence(ct, since_version=state.version)
    _apply_serving_threshold(state, ct)
    _choose_audit_phase(state, result, ct)
    serving = min(state.threshold, 0.99)
    state.estimate = state.evidence.estimate(serving)
    # Anytime-valid: once the serving threshold is certified, its escape rate is under the
    # target with probability 1 - delta. There is no tighter number to publish.
    state.bound = ct.target_escape_rate if evidence.certified_at(state.evidence, serving) else None


HORIZON = 2  # drafts still to come, in multiples of those seen: the type runs on twice as long


def _keep_exploring(state: TypeState, result: evidence.Walk, ct: ContentTypePolicy) -> bool:
    """Go on reviewing all although `result.threshold` is certified? Each review-all verdict has
    q = 1, the fastest evidence there is; once the type auto-approves, a looser threshold
    learns only from audits, ~1/floor times slower. So review-all goes on while learning a
    looser candidate that way pays (`_pays`, every draft the frontier would auto-approve
    reviewed meanwhile), and ends when there is none, or once it has not paid for a first
    certificate's worth of verdicts in a row. Whether to explore never changes what is
    certified, only what is served meanwhile."""
    if state.mode != "review_all" or result.threshold is None:
        return False
    if result.threshold == CANDIDATES[-1]:
        return False
    ev = state.evidence
    pays = _pays(ev, result, ct, cost=1.0, q_min=1.0, q=1.0)
    go_on, state.explore_misses = _hold(state.explore_misses, pays, ev, ct)
    return go_on


def _choose_audit_phase(state: TypeState, result: evidence.Walk, ct: ContentTypePolicy) -> None:
    """Explore (audits at the floor and near the threshold) while certifying a looser candidate
    from them pays for the audits above the monitor rate; monitor (the uniform monitor rate)
    once it has not paid for a first certificate's worth of verdicts in a row. A certified
    type only: before a certificate, after an alarm and in an audit boost, audits explore."""
    if state.mode != "certified" or state.audit_boost_left > 0 or result.threshold is None:
        state.audit_phase, state.monitor_misses = "explore", -1
        return
    audit = ct.audit
    cost = _explore_audits(state.evidence, result.threshold, ct) - audit.monitor
    pays = _pays(state.evidence, result, ct, cost=cost, q_min=audit.floor, q=audit.floor)
    go_on, state.monitor_misses = _hold(state.monitor_misses, pays, state.evidence, ct)
    state.audit_phase = "explore" if go_on else "monitor"


def _explore_audits(ev: Evidence, threshold: float, ct: ContentTypePolicy) -> float:
    """The share of the drafts above `threshold` that exploring audits: the floor and the ramp
    near the threshold, over the scores drafts had so far."""
    low = evidence.bucket_of(threshold)
    drafts = ev.counts["drafts"][low:]
    if not drafts.sum():
        return ct.audit.floor
    centres = (np.arange(low, evidence.BUCKETS) + 0.5) / evidence.BUCKETS
    q = [audit_probability(float(c), threshold, ct.audit) for c in centres]
    return float(np.dot(drafts, q) / drafts.sum())


def _hold(misses: int, pays: bool, ev: Evidence, ct: ContentTypePolicy) -> tuple[bool, int]:
    """(go on, misses): go on while it pays, and for `evidence.needed` verdicts after it first
    stopped paying (`misses`: the verdicts labelled then, -1 while it pays): one noisy
    estimate must not end it for good."""
    labelled = ev.total("labelled")
    if pays:
        return True, -1
    misses = labelled if misses < 0 else misses
    return labelled - misses < evidence.needed(ct.target_escape_rate, ct.delta), misses


def _pays(
    ev: Evidence, result: evidence.Walk, ct: ContentTypePolicy, *, cost: float, q_min: float,
    q: float,
) -> bool:  # fmt: skip
    """Is it worth reviewing, of each draft the certified frontier would auto-approve, a share
    `cost` more, to certify a looser candidate from drafts a human sees with probability q,
    counted with bets sized for q_min? Yes while some looser candidate looks certifiable (it
    and every candidate between have estimated escapes under the target) and the reviews it
    would save over the horizon (HORIZON x the drafts seen) exceed the extra reviews until it
    and all between cross, at the pace their estimates predict."""
    if result.threshold is None:
        return False
    target = ct.target_escape_rate
    first = CANDIDATES.index(result.threshold) + 1
    buckets = _LOOSER[first]  # the looser candidates' buckets, strict to loose
    drafts = float(ev.counts["drafts"].sum())
    served = ev.tail_drafts(result.threshold) / drafts  # auto-approved by it
    counts, estimate = ev.tails(buckets)
    tail = counts.astype(np.float64)
    pace = expected_growth(target, q_min, estimate, q)
    # Candidates count up to the first one that does not look certifiable.
    usable = (tail > 0) & (estimate < target) & (pace > 0.0)
    n = len(usable) if usable.all() else int(np.argmin(usable))
    if n == 0:
        return False
    tail, pace = tail[:n], pace[:n]
    to_go = np.maximum(0.0, evidence.line(ct.delta) + evidence.MIXTURE_COST
                       - np.asarray(result.best[first : first + n]))  # fmt: skip
    # Drafts until every candidate up to each one crosses, at its estimate's pace.
    learning = np.maximum.accumulate(to_go / pace * drafts / tail)
    saved = (tail / drafts - served) * (HORIZON * drafts - learning)
    return bool((learning * served * cost < saved).any())


# Per position in CANDIDATES, the buckets of the candidates from there on.
_LOOSER = [np.asarray([evidence.bucket_of(t) for t in CANDIDATES[k:]], dtype=np.intp)
           for k in range(len(CANDIDATES) + 1)]  # fmt: skip


def threshold_event(state: TypeState, ct: ContentTypePolicy, now: datetime) -> ThresholdState:
    ev = state.evidence
    return ThresholdState(
        content_type=state.content_type,
        threshold=state.threshold,
        version=state.version,
        mode=state.mode,
        target_escape_rate=ct.target_escape_rate,
        delta=ct.delta,
        escape_estimate=state.estimate,
        escape_upper_bound=state.bound,
        evidence=EvidenceSummary(
            items=ev.total("labelled"),
            errors=ev.total("errors"),
            audits=ev.total("audits"),
            audit_errors=ev.total("audit_errors"),
        ),
        audit_boost=state.audit_boost_left > 0,
        audit_phase=state.audit_phase,
        reason=state.reason[:2000],
        updated_at=now,
    )


Serving = tuple[float, str, int, str]


def _serving(state: TypeState) -> Serving:
    """What the route stage serves from a type's state: a change in it is published at once."""
    return state.threshold, state.mode, state.version, state.audit_phase


def on_decision(
    state: TypeState, decision: Decision, ct: ContentTypePolicy, config: RouterConfig, now: datetime
) -> tuple[TypeState, list[ThresholdState]]:
    """`decide(state, event) -> (state, outputs)` for a human decision."""
    snap = decision.routing
    if decision.fallback_applied or snap.reason in NOT_EVIDENCE:
        return state, []  # no human verdict on an eligible draft: not evidence
    before = _serving(state)
    learn(
        state,
        confidence=snap.confidence,
        q=snap.audit_q if snap.audit else 1.0,
        reason=snap.reason,
        phase=snap.audit_phase,
        version=snap.threshold_version,
        at=None if snap.routed_at is None else slice_at(snap.routed_at, ct),
        error=is_error(decision, ct),
        ct=ct,
        config=config,
        now=slice_at(now, ct),
    )
    return state, _publish(state, ct, now, config, before)


def on_tally(
    state: TypeState,
    cells: list[tuple[int, int, int, list[float]]],
    *,
    review_all: bool,
    phase: AuditPhase,
    version: int,
    at: int,
    ct: ContentTypePolicy,
    config: RouterConfig,
    now: datetime,
) -> tuple[TypeState, list[ThresholdState]]:
    """`decide(state, event)` for a route batch's tally of slice `at` (drafts routed in one
    mode and audit `phase`): (bucket, auto-approved unseen, reviewed with q = 1, audit q's) per
    cell."""
    before = _serving(state)
    reason: RouteReasonKind = "review_all" if review_all else "above_threshold"
    bets = bet_class(reason, phase)
    if not all(
        evidence.bettable(state.evidence, bets, q) for *_, audit_q in cells for q in audit_q
    ):
        # Audits drawn at lower rates than this certificate's bets allow (a route replica on
        # another policy's audit rates): counting the batch's unseen drafts without its audits
        # would bias the test towards clean, so none of the batch counts.
        state.refused_tallies += 1
        return state, []
    for bucket, auto, reviewed, audit_q in cells:
        count = partial(note_routed, state, confidence=(bucket + 0.5) / 100, reason=reason,
                        phase=phase, version=version, at=at)  # fmt: skip
        count(q=1.0, reviewed=False, drafts=auto)
        count(q=1.0, reviewed=True, drafts=reviewed)
        for q in audit_q:
            count(q=q, reviewed=True)
    certify(state, ct, config, now=slice_at(now, ct))
    return state, _publish(state, ct, now, config, before)


def _publish(
    state: TypeState,
    ct: ContentTypePolicy,
    now: datetime,
    config: RouterConfig,
    before: Serving,
) -> list[ThresholdState]:
    # A change at once; unchanged evidence every `recertify_every` verdicts.
    if _serving(state) != before or state.since_certification >= config.recertify_every:
        state.since_certification = 0
        return [threshold_event(state, ct, now)]
    return []
