"""The review rules as plain functions: who may act on an item, and what a decision is.

No SQL, no HTTP: the store and the routes call these and turn `Denied` into a status code.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from hitl_runtime.policy import ContentTypePolicy, Policy
from hitl_schemas import DEFAULT_LIMITS, Decision, Escalation, Limits, RoutedDraft, RoutingSnapshot

Role = Literal["reviewer", "lead", "admin"]
Verdict = Literal["approve", "reject", "edit"]
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


@dataclass(frozen=True, slots=True)
class Principal:
    reviewer_id: str
    role: Role
    tier: str
    content_types: frozenset[str] | None  # None: every type


class Denied(Exception):
    """A request the rules refuse; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ItemView:
    draft_id: str
    content_type: str
    tier: str
    status: str
    lease_holder: str | None
    lease_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Scope:
    """The items a principal may see: these tiers, and these content types (None: every type;
    an empty set: none). The one statement of that rule: `may_see` asks it of one item, and the
    queue and claim queries filter by it (store.in_scope)."""

    tiers: tuple[str, ...]
    content_types: frozenset[str] | None

    def allows(self, *, tier: str, content_type: str) -> bool:
        return tier in self.tiers and (
            self.content_types is None or content_type in self.content_types
        )


def scope_of(principal: Principal, policy: Policy) -> Scope:
    """Leads and admins see everything; a reviewer sees their content types at or below their
    tier (a senior can take a junior item, not the other way round). A reviewer given an empty
    list of content types sees nothing: an empty list is not "every type" (that is None)."""
    if principal.role in ("lead", "admin"):
        return Scope(tuple(policy.tiers), None)
    tiers = policy.tiers
    upto = tiers[: tiers.index(principal.tier) + 1] if principal.tier in tiers else []
    return Scope(tuple(upto), principal.content_types)


def may_see(principal: Principal, *, tier: str, content_type: str, policy: Policy) -> bool:
    return scope_of(principal, policy).allows(tier=tier, content_type=content_type)


def check_can_work(principal: Principal, item: ItemView, policy: Policy) -> None:
    if not may_see(principal, tier=item.tier, content_type=item.content_type, policy=policy):
        raise Denied(
            403,
            f"item {item.draft_id} is a {item.tier}-tier {item.content_type} item; you are "
            f"{principal.tier} tier"
            + (
                f" for {sorted(principal.content_types)}"
                if principal.content_types is not None
                else ""
            ),
        )


def lease_active(item: ItemView, now: datetime) -> bool:
    return (
        item.lease_holder is not None
        and item.lease_expires_at is not None
        and (item.lease_expires_at > now)
    )


def check_claimable(principal: Principal, item: ItemView, policy: Policy, now: datetime) -> None:
    check_can_work(principal, item, policy)
    if item.status == "decided":
        raise Denied(409, f"item {item.draft_id} is already decided")
    if lease_active(item, now) and item.lease_holder != principal.reviewer_id:
        raise Denied(409, f"item {item.draft_id} is claimed by another reviewer")


def check_lease_holder(
    principal: Principal, item: ItemView, now: datetime, policy: Policy | None = None
) -> None:
    """Only the lease holder may release, decide or escalate, and (given the policy) only while
    the item is still theirs to work: a reviewer moved to another tier or content type during a
    lease cannot act on what they may no longer see."""
    if policy is not None:
        check_can_work(principal, item, policy)
    if item.status == "decided":
        raise Denied(409, f"item {item.draft_id} is already decided")
    if item.lease_holder != principal.reviewer_id:
        raise Denied(403, f"you do not hold the lease on item {item.draft_id}; claim it first")
    if not lease_active(item, now):
        raise Denied(409, f"your lease on item {item.draft_id} expired; claim it again")


def check_edit_length(final_text: str, limits: Limits = DEFAULT_LIMITS) -> None:
    if len(final_text) > limits.max_text_chars:
        # The decision event could not carry it (nor could the draft have): refused here, not
        # failed later while building the event.
        raise Denied(
            422,
            f"final_text: {len(final_text)} characters, over the limit of "
            f"{limits.max_text_chars} (HITL_MAX_TEXT_CHARS)",
        )


def check_verdict(
    verdict: Verdict,
    final_text: str | None,
    reason_codes: list[str],
    ct: ContentTypePolicy | None,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    if verdict == "edit" and not (final_text and final_text.strip()):
        raise Denied(422, "final_text: an edit needs the edited text")
    if final_text is not None:
        check_edit_length(final_text, limits)
    if verdict != "edit" and final_text is not None:
        raise Denied(422, "final_text: only an edit carries a final text")
    if verdict in ("reject", "edit") and not reason_codes:
        raise Denied(422, "reason_codes: a reject or an edit needs at least one reason code")
    allowed = set(ct.reason_codes) if ct is not None else None
    unknown = [c for c in reason_codes if allowed is not None and c not in allowed]
    if unknown:
        raise Denied(
            422, f"reason_codes: {unknown} not in this content type's list {sorted(allowed or [])}"
        )


def request_fingerprint(
    draft_id: str, verdict: Verdict, final_text: str | None, reason_codes: list[str], note: str
) -> str:
    """What an Idempotency-Key is stored with: a digest of the request it came with (its item
    and its body, as parsed, so a retry that re-serialises the same body still matches)."""
    canonical = json.dumps(
        [draft_id, verdict, final_text, reason_codes, note],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_replay(
    idempotency_key: str,
    *,
    draft_id: str,
    fingerprint: str,
    earlier_draft_id: str,
    earlier_fingerprint: str | None,
) -> None:
    """A key used before may only be replayed with the same request; it then gets the first
    answer. Another item or another body is a 422 (as the IETF Idempotency-Key draft says), not
    the first request's verdict passed off as this one's. A key stored before fingerprints were
    (None) is matched on its item alone."""
    if earlier_draft_id != draft_id:
        raise Denied(
            422,
            f"Idempotency-Key {idempotency_key!r} was already used for another item; "
            "send a new key with each new request",
        )
    if earlier_fingerprint is not None and earlier_fingerprint != fingerprint:
        raise Denied(
            422,
            f"Idempotency-Key {idempotency_key!r} was already used with a different body; "
            "a retry must repeat the first request exactly, a new request needs a new key",
        )


def escalation_target(tier: str, policy: Policy) -> str:
    nxt = policy.next_tier(tier)
    if nxt is None:
        raise Denied(409, f"tier {tier} is the last tier; there is no one to escalate to")
    return nxt


TwoApprovalOutcome = Literal["final", "await_second", "disagree"]
DecisionStatus = Literal["decided", "awaiting_second_review", "escalated"]


def _same_text(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").split()) == " ".join((b or "").split())


def two_approval_step(
    stage: str,
    prior: list[tuple[str, str, str | None]],
    reviewer_id: str,
    verdict: Verdict,
    final_text: str | None,
) -> TwoApprovalOutcome:
    """Where a verdict leaves a two-approval item. `prior`: (reviewer, verdict, text) so far.

    The first verdict waits, unseen, for a second independent reviewer; two that agree (same
    verdict, and the same text for an edit) are final; two that disagree go to a tie-break,
    whose verdict is final."""
    if any(r == reviewer_id for r, _, _ in prior):
        raise Denied(
            409, "you already gave your verdict on this item; it needs an independent reviewer"
        )
    if stage == "tiebreak":
        return "final"
    if not prior:
        return "await_second"
    _, first_verdict, first_text = prior[-1]
    agree = first_verdict == verdict and (verdict != "edit" or _same_text(first_text, final_text))
    return "final" if agree else "disagree"


def lease_until(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)


def build_decision(
    routed: RoutedDraft,
    *,
    verdict: Verdict,
    final_text: str | None,
    reason_codes: list[str],
    note: str,
    reviewer_ids: list[str],
    reviewer_tier: str,
    escalations: list[Escalation],
    now: datetime,
    fallback_applied: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Decision:
    draft = routed.draft
    text = final_text if verdict == "edit" else (draft.text if verdict == "approve" else None)
    fields = dict(
        decision_id=f"dec-{uuid.uuid4().hex}",
        draft_id=draft.draft_id,
        tenant=draft.tenant,
        content_type=draft.content_type,
        verdict=verdict,
        final_text=text,
        reason_codes=reason_codes,
        note=note,
        reviewer_ids=reviewer_ids,
        reviewer_tier=reviewer_tier,
        reviewers=len(reviewer_ids),
        escalations=escalations,
        fallback_applied=fallback_applied,
        draft=draft,
        score=routed.score,
        routing=RoutingSnapshot.of(routed),
        decided_at=now,
    )
    # Validated against the service's limits (HITL_MAX_TEXT_CHARS), not the defaults.
    return Decision.model_validate(fields, context=limits)


VERDICTS: tuple[Verdict, ...] = ("approve", "reject", "edit")


def cohens_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Agreement between two raters beyond chance; None with no pairs or no variation."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    expected = sum(
        (sum(1 for a, _ in pairs if a == v) / n) * (sum(1 for _, b in pairs if b == v) / n)
        for v in VERDICTS
    )
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)
