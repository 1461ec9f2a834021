"""The review use cases. Each runs in one database transaction; the rules live in `domain`."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hitl_runtime.metrics import END_TO_END_SECONDS, content_type_label
from hitl_runtime.policy import Policy
from hitl_schemas import DEFAULT_LIMITS, ErrorInfo, Escalation, Limits, RoutedDraft, topic
from review_api import cursors, domain, metrics
from review_api.db import Item, Review
from review_api.domain import DecisionStatus, Denied, ItemView, Principal, Verdict
from review_api.models import ItemDetail, ItemSummary
from review_api.store import (
    add_outbox,
    append_audit,
    claim_candidates,
    in_scope,
    insert_item_if_absent,
    priority_rank,
    take_lease,
)


def _view(item: Item) -> ItemView:
    return ItemView(
        item.draft_id,
        item.content_type,
        item.tier,
        item.status,
        item.lease_holder,
        _aware(item.lease_expires_at),
    )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def summary(item: Item, now: datetime) -> ItemSummary:
    routed = RoutedDraft.model_validate_json(item.routed)
    due = _aware(item.due_at) or now
    return ItemSummary(
        draft_id=item.draft_id,
        content_type=item.content_type,
        tenant=item.tenant,
        tier=item.tier,
        priority=item.priority,
        status=item.status,
        due_at=due,
        overdue=item.status != "decided" and due < now,
        confidence=routed.score.confidence,
        reason=routed.reason.kind,
        lease_holder=item.lease_holder,
        lease_expires_at=_aware(item.lease_expires_at),
    )


def suggested_action(routed: RoutedDraft) -> Literal["approve", "edit", "reject"]:
    flagged = {s.name for s in routed.score.signals if s.value >= 0.5 and not s.failed}
    if "toxicity" in flagged:
        return "reject"
    if flagged & {"grounding", "pii", "commitments", "form", "tone"}:
        return "edit"
    return "approve"


def detail(item: Item, policy: Policy, now: datetime) -> ItemDetail:
    routed = RoutedDraft.model_validate_json(item.routed)
    ct = policy.for_type(item.content_type)
    return ItemDetail(
        **summary(item, now).model_dump(),
        routed=routed,
        checklist=list(ct.checklist) if ct else [],
        reason_codes=list(ct.reason_codes) if ct else ["other"],
        suggested_action=suggested_action(routed),
        escalations=item.escalations or [],
    )


IngestOutcome = Literal["new", "duplicate", "tenant_clash"]


async def ingest(
    session: AsyncSession, routed: RoutedDraft, raw: bytes, now: datetime
) -> IngestOutcome:
    """Store a routed draft as a queued item. The same draft again (a redelivery) is a
    duplicate and changes nothing. The same draft_id from another tenant is a clash: draft_id
    names the draft everywhere (the Kafka key of every topic, the key of its decision, what
    producers wait on), so it cannot name two drafts; the caller dead-letters the second."""
    draft = routed.draft
    if await insert_item_if_absent(
        session,
        {
            "draft_id": draft.draft_id,
            "tenant": draft.tenant,
            "content_type": draft.content_type,
            "tier": routed.tier,
            "priority": routed.priority,
            "priority_rank": priority_rank(routed.priority),
            "status": "queued",
            "due_at": routed.due_at,
            "received_at": now,
            "routed": raw.decode(),
            "escalations": [],
            "version": 0,
        },
    ):
        return "new"
    holder = await session.scalar(select(Item.tenant).where(Item.draft_id == draft.draft_id))
    return "duplicate" if holder == draft.tenant else "tenant_clash"


def tenant_clash(routed: RoutedDraft) -> ErrorInfo:
    """Why a draft whose draft_id another tenant already used is dead-lettered. The other
    tenant is not named: the letter goes back to this draft's producer's operators."""
    return ErrorInfo(
        kind="processing",
        field="draft.draft_id",
        message=f"draft_id {routed.draft.draft_id!r} is already in review for another tenant; "
        "draft ids must be unique across tenants (decisions and producers correlate by "
        "draft_id alone): send it again with a new draft_id",
    )


async def get_item(session: AsyncSession, draft_id: str) -> Item:
    item = await session.get(Item, draft_id)
    if item is None:
        raise Denied(404, f"no item {draft_id}")
    return item


async def list_queue(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: Policy,
    now: datetime,
    tier: str | None,
    content_type: str | None,
    overdue: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[ItemSummary], str | None]:
    query = in_scope(
        select(Item).where(Item.status == "queued"), domain.scope_of(principal, policy)
    )
    if tier:
        query = query.where(Item.tier == tier)
    if content_type:
        query = query.where(Item.content_type == content_type)
    if overdue is not None:
        query = query.where(Item.due_at < now if overdue else Item.due_at >= now)
    if cursor:
        rank, due, draft_id = cursors.decode(cursor)
        query = query.where(
            (Item.priority_rank > rank)
            | ((Item.priority_rank == rank) & (Item.due_at > due))
            | ((Item.priority_rank == rank) & (Item.due_at == due) & (Item.draft_id > draft_id))
        )
    query = query.order_by(Item.priority_rank, Item.due_at, Item.draft_id).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    page, more = rows[:limit], len(rows) > limit
    last = page[-1] if more and page else None
    next_cursor = (
        cursors.encode(last.priority_rank, _aware(last.due_at), last.draft_id) if last else None
    )
    return [summary(i, now) for i in page], next_cursor


async def claim_next(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: Policy,
    now: datetime,
    lease_seconds: int,
) -> Item | None:
    scope = domain.scope_of(principal, policy)
    for _ in range(5):  # lost races retry with fresh candidates
        candidates = await claim_candidates(
            session,
            scope=scope,
            now=now,
            limit=5,
            exclude_reviewed_by=principal.reviewer_id,
        )
        if not candidates:
            return None
        for item in candidates:
            until = domain.lease_until(now, lease_seconds)
            if await take_lease(session, item, holder=principal.reviewer_id, until=until, now=now):
                await append_audit(
                    session,
                    actor=principal.reviewer_id,
                    action="claim",
                    now=now,
                    draft_id=item.draft_id,
                    detail={"next": True},
                )
                await session.refresh(item)
                return item
    return None


async def claim_item(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: Policy,
    draft_id: str,
    now: datetime,
    lease_seconds: int,
) -> Item:
    item = await get_item(session, draft_id)
    domain.check_claimable(principal, _view(item), policy, now)
    if any(r.reviewer_id == principal.reviewer_id for r in await _reviews(session, draft_id)):
        raise Denied(
            409, "you already gave your verdict on this item; it needs an independent reviewer"
        )
    until = domain.lease_until(now, lease_seconds)
    if not await take_lease(session, item, holder=principal.reviewer_id, until=until, now=now):
        raise Denied(409, f"item {draft_id} was claimed by someone else a moment ago")
    await append_audit(
        session, actor=principal.reviewer_id, action="claim", now=now, draft_id=draft_id
    )
    await session.refresh(item)
    return item


async def release(
    session: AsyncSession,
    *,
    principal: Principal,
    draft_id: str,
    now: datetime,
    policy: Policy | None = None,
) -> None:
    item = await get_item(session, draft_id)
    domain.check_lease_holder(principal, _view(item), now, policy)
    item.lease_holder, item.lease_expires_at, item.version = None, None, item.version + 1
    await append_audit(
        session, actor=principal.reviewer_id, action="release", now=now, draft_id=draft_id
    )


async def escalate(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: Policy,
    draft_id: str,
    reason: str,
    note: str,
    now: datetime,
) -> Item:
    item = await get_item(session, draft_id)
    domain.check_lease_holder(principal, _view(item), now, policy)
    target = domain.escalation_target(item.tier, policy)
    step = Escalation(from_tier=item.tier, to_tier=target, reason=reason, at=now)
    item.escalations = [*(item.escalations or []), step.model_dump(mode="json")]
    item.tier, item.lease_holder, item.lease_expires_at = target, None, None
    item.version += 1
    await append_audit(
        session,
        actor=principal.reviewer_id,
        action="escalate",
        now=now,
        draft_id=draft_id,
        detail={"to": target, "reason": reason, "note": note},
    )
    return item


def edit_diff(original: str, final_text: str | None) -> str | None:
    """The reviewer's edit as a unified diff, kept with the verdict."""
    if final_text is None:
        return None
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        final_text.splitlines(keepends=True),
        fromfile="draft",
        tofile="final",
    )
    return "".join(lines)[:200_000]


def _seconds_since(start: datetime | None, now: datetime) -> float | None:
    begun = _aware(start)
    return None if begun is None else max(0.0, (now - begun).total_seconds())


async def _reviews(session: AsyncSession, draft_id: str) -> list[Review]:
    query = select(Review).where(Review.draft_id == draft_id).order_by(Review.id)
    return list((await session.execute(query)).scalars())


async def _insert_keyed(session: AsyncSession, idempotency_key: str) -> None:
    """Write the review now: two requests with one key at the same moment both found no earlier
    review, and the unique (reviewer, key) index lets one through. The other gets a 409 to
    retry (it then reads the first one's answer), not a 500."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Denied(
            409,
            f"Idempotency-Key {idempotency_key!r} is in use by a request that is still being "
            "recorded; retry this request to get its answer",
        ) from exc


def _status_of(review: Review, item: Item) -> DecisionStatus:
    if review.decision_id:
        return "decided"
    return "awaiting_second_review" if item.stage == "second" else "escalated"


async def decide(
    session: AsyncSession,
    *,
    principal: Principal,
    policy: Policy,
    draft_id: str,
    verdict: Verdict,
    final_text: str | None,
    reason_codes: list[str],
    note: str,
    idempotency_key: str | None,
    now: datetime,
    topic_prefix: str,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[str | None, DecisionStatus]:
    """Record a verdict; when it is final, the decision event goes into the outbox and the audit
    trail in the same transaction. Returns (decision id or None, status). A retry with the same
    idempotency key and the same request returns what the first request did; the same key with
    another request is refused (domain.check_replay)."""
    fingerprint = domain.request_fingerprint(draft_id, verdict, final_text, reason_codes, note)
    if idempotency_key:
        earlier = (
            await session.execute(
                select(Review).where(
                    Review.reviewer_id == principal.reviewer_id,
                    Review.idempotency_key == idempotency_key,
                )
            )
        ).scalar_one_or_none()
        if earlier is not None:
            domain.check_replay(
                idempotency_key,
                draft_id=draft_id,
                fingerprint=fingerprint,
                earlier_draft_id=earlier.draft_id,
                earlier_fingerprint=earlier.request_hash,
            )
            return earlier.decision_id, _status_of(earlier, await get_item(session, draft_id))
    item = await get_item(session, draft_id)
    domain.check_lease_holder(principal, _view(item), now, policy)
    ct = policy.for_type(item.content_type)
    domain.check_verdict(verdict, final_text, reason_codes, ct, limits)
    prior = await _reviews(session, draft_id)
    outcome = "final"
    if ct is not None and ct.two_approvals:
        outcome = domain.two_approval_step(
            item.stage,
            [(r.reviewer_id, r.verdict, r.final_text) for r in prior],
            principal.reviewer_id,
            verdict,
            final_text,
        )
    review = Review(
        draft_id=draft_id,
        reviewer_id=principal.reviewer_id,
        verdict=verdict,
        final_text=final_text,
        reason_codes=reason_codes,
        note=note,
        idempotency_key=idempotency_key,
        request_hash=fingerprint if idempotency_key else None,
        created_at=now,
        seconds_spent=_seconds_since(item.claimed_at, now),
        diff=edit_diff(RoutedDraft.model_validate_json(item.routed).draft.text, final_text),
    )
    if review.seconds_spent is not None:
        metrics.TIME_PER_ITEM.observe(review.seconds_spent)
    session.add(review)
    if idempotency_key:
        await _insert_keyed(session, idempotency_key)
    item.lease_holder, item.lease_expires_at, item.version = None, None, item.version + 1
    if outcome == "await_second":
        item.stage = "second"
        await append_audit(
            session,
            actor=principal.reviewer_id,
            action="first_review",
            now=now,
            draft_id=draft_id,
            detail={"verdict": verdict},
        )
        return None, "awaiting_second_review"
    if outcome == "disagree":
        target = policy.next_tier(item.tier) or item.tier
        step = Escalation(
            from_tier=item.tier, to_tier=target, reason="two reviewers disagreed", at=now
        )
        item.escalations = [*(item.escalations or []), step.model_dump(mode="json")]
        item.stage, item.tier = "tiebreak", target
        await append_audit(
            session,
            actor=principal.reviewer_id,
            action="disagreement",
            now=now,
            draft_id=draft_id,
            detail={"verdicts": [prior[-1].verdict, verdict]},
        )
        return None, "escalated"
    routed = RoutedDraft.model_validate_json(item.routed)
    escalations = [Escalation.model_validate(e) for e in (item.escalations or [])]
    decision = domain.build_decision(
        routed,
        verdict=verdict,
        final_text=final_text,
        reason_codes=sorted({*reason_codes, *(c for r in prior for c in r.reason_codes)}),
        note=note,
        reviewer_ids=[*(r.reviewer_id for r in prior), principal.reviewer_id],
        reviewer_tier=item.tier,
        escalations=escalations,
        now=now,
        limits=limits,
    )
    review.decision_id = decision.decision_id
    metrics.DECISIONS.labels(
        content_type_label(item.content_type, policy.content_types), verdict
    ).inc()
    # The draft's whole path to a final human verdict, queueing and review included.
    END_TO_END_SECONDS.labels(service="review-api").observe(
        max(0.0, (now - routed.draft.created_at).total_seconds())
    )
    item.status, item.decided_at = "decided", now
    await add_outbox(
        session,
        topic=topic("decisions", topic_prefix),
        key=draft_id,
        payload=decision.model_dump_json(),
        now=now,
    )
    detail: dict[str, Any] = {
        "verdict": verdict,
        "reason_codes": reason_codes,
        "decision_id": decision.decision_id,
    }
    await append_audit(
        session,
        actor=principal.reviewer_id,
        action="decide",
        now=now,
        draft_id=draft_id,
        detail=detail,
    )
    return decision.decision_id, "decided"
