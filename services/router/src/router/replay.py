"""Offline replay: run the router's own policy over a history of (type, score, verdict).

Each record is routed with the same `choose` the service uses and counted into the type's
certificate as the route stage's tallies count it (pending when it goes to a human); the verdict
of a reviewed draft (audit or not) is revealed to the policy `delay` records later, as a human
decision would be; an auto-approved draft that was not audited reveals nothing. The certificate
is walked at every verdict and every `recertify_every` drafts of a type (the service walks it at
every route batch's tally). Used to backtest a policy before it
goes live, and by the benchmarks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from hitl_runtime.policy import Policy
from hitl_schemas.events import AuditPhase, Priority, RouteReasonKind
from router.core import (
    RouterConfig,
    TypeState,
    certify,
    choose,
    initial_state,
    learn,
    note_routed,
    slice_at,
)


@dataclass(frozen=True, slots=True)
class Record:
    draft_id: str
    content_type: str
    confidence: float
    defect: bool
    # The hard rule the draft trips, from `router.core.hard_rule` over its signals; None when
    # it trips none or the history has no signals.
    tripped: tuple[str, str | None, Priority | None] | None = None


# One point per this many drafts of a type on the escape-rate curve: bounded memory for any length.
CURVE_EVERY = 500


@dataclass
class TypeOutcome:
    items: int = 0
    reviewed: int = 0
    audits: int = 0
    auto_approved: int = 0
    escapes: int = 0  # defective drafts auto-approved without review
    certified_auto_approved: int = 0  # the same two, counted while a certificate held
    certified_escapes: int = 0
    thresholds: list[tuple[int, float]] = field(default_factory=list)  # (record index, threshold)
    # (record index, auto-approved so far, escapes so far), every CURVE_EVERY drafts of the type
    curve: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def review_rate(self) -> float:
        return self.reviewed / self.items if self.items else 0.0

    @property
    def escape_rate(self) -> float:
        return self.escapes / self.auto_approved if self.auto_approved else 0.0

    @property
    def certified_escape_rate(self) -> float:
        if not self.certified_auto_approved:
            return 0.0
        return self.certified_escapes / self.certified_auto_approved


@dataclass
class ReplayResult:
    by_type: dict[str, TypeOutcome]
    states: dict[str, TypeState]


def replay(
    records: Iterable[Record],
    policy: Policy,
    config: RouterConfig,
    *,
    delay: int = 0,
    seconds_per_record: float = 1.0,
) -> ReplayResult:
    """Record i is routed at i * seconds_per_record seconds (the clock of the certificate's
    slices of routing time); its verdict comes `delay` records later."""
    states = {name: initial_state(name, ct) for name, ct in policy.content_types.items()}
    outcomes: dict[str, TypeOutcome] = {}
    pending: deque[
        tuple[int, str, str, float, float, RouteReasonKind, AuditPhase, int, int, bool]
    ] = deque()
    for index, record in enumerate(records):
        while pending and pending[0][0] <= index:
            _, draft_id, name, confidence, q, reason, phase, version, at, defect = pending.popleft()
            type_policy = policy.content_types[name]
            learn(
                states[name],
                confidence=confidence,
                q=q,
                reason=reason,
                phase=phase,
                version=version,
                at=at,
                error=defect,
                ct=type_policy,
                config=config,
                now=slice_at(index * seconds_per_record, type_policy),
            )
        outcome = outcomes.setdefault(record.content_type, TypeOutcome())
        outcome.items += 1
        if outcome.items % CURVE_EVERY == 0:
            outcome.curve.append((index, outcome.auto_approved, outcome.escapes))
        ct = policy.for_type(record.content_type)
        if ct is None:
            outcome.reviewed += 1
            continue
        state = states[record.content_type]
        at = slice_at(index * seconds_per_record, ct)
        if outcome.items % config.recertify_every == 0:
            certify(state, ct, config, now=at)  # what the drafts routed since say (a tally's)
        if not outcome.thresholds or outcome.thresholds[-1][1] != state.threshold:
            outcome.thresholds.append((index, state.threshold))
        choice = choose(record.draft_id, record.confidence, record.tripped, state, ct, config)
        version, phase = state.version, state.audit_phase
        note_routed(state, confidence=record.confidence, q=choice.q, reason=choice.reason,
                    phase=phase, reviewed=choice.route == "needs_review", version=version,
                    at=at)  # fmt: skip
        if choice.route == "auto_approved":
            outcome.auto_approved += 1
            outcome.escapes += int(record.defect)
            if state.mode == "certified":
                outcome.certified_auto_approved += 1
                outcome.certified_escapes += int(record.defect)
            continue
        outcome.reviewed += 1
        audit = choice.reason == "audit"
        if audit:
            outcome.audits += 1
        if choice.reason == "hard_rule":
            continue  # as in `on_decision`: a verdict on a rule-caught draft is not evidence
        pending.append(
            (
                index + delay,
                record.draft_id,
                record.content_type,
                record.confidence,
                choice.q,
                choice.reason,
                phase,
                version,
                at,
                record.defect,
            )
        )
    return ReplayResult(outcomes, states)
