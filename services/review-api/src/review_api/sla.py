"""The SLA sweeper: overdue items go one tier up; past the last tier, the content type's fallback.

An item someone is working on (a live lease) is left alone until the lease ends. Each step is
written to the item, the audit trail and (for a fallback reject) the outbox in one transaction;
notifications go out after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hitl_runtime.policy import Policy, Sla
from hitl_schemas import Escalation, RoutedDraft, topic
from review_api import domain
from review_api.db import Item
from review_api.metrics import SLA_BREACHES
from review_api.store import add_outbox, append_audit, skip_locked

SWEEPER = "sla-sweeper"


async def sweep(
    session: AsyncSession, *, policy: Policy, now: datetime, topic_prefix: str, limit: int = 200
) -> list[dict[str, Any]]:
    """One pass; returns the notifications to send once the transaction has committed."""
    query = (
        select(Item)
        .where(Item.status == "queued", Item.due_at < now, Item.sla_breached.is_(False))
        .where((Item.lease_expires_at.is_(None)) | (Item.lease_expires_at <= now))
        .order_by(Item.due_at)
        .limit(limit)
    )
    notices: list[dict[str, Any]] = []
    for item in (await session.execute(skip_locked(query, session))).scalars():
        ct = policy.for_type(item.content_type)
        target = policy.next_tier(item.tier)
        base = {"draft_id": item.draft_id, "content_type": item.content_type, "at": now.isoformat()}
        if target is not None:
            step = Escalation(from_tier=item.tier, to_tier=target, reason="sla_breach", at=now)
            item.escalations = [*(item.escalations or []), step.model_dump(mode="json")]
            item.tier = target
            item.due_at = now + (ct.sla if ct else Sla()).for_priority(item.priority)  # type: ignore[arg-type]
            item.lease_holder, item.lease_expires_at, item.version = None, None, item.version + 1
            await append_audit(
                session,
                actor=SWEEPER,
                action="sla_escalate",
                now=now,
                draft_id=item.draft_id,
                detail={"to": target},
            )
            notices.append(base | {"event": "sla_escalated", "tier": target})
            SLA_BREACHES.labels("escalated").inc()
        elif ct is not None and ct.sla_fallback == "reject":
            await _reject_unreviewed(session, item, now, topic_prefix)
            notices.append(base | {"event": "sla_fallback_rejected", "tier": item.tier})
            SLA_BREACHES.labels("rejected").inc()
        else:
            item.sla_breached, item.version = True, item.version + 1
            await append_audit(
                session,
                actor=SWEEPER,
                action="sla_breach",
                now=now,
                draft_id=item.draft_id,
                detail={"fallback": "keep_waiting"},
            )
            notices.append(base | {"event": "sla_breached", "tier": item.tier})
            SLA_BREACHES.labels("kept_waiting").inc()
    return notices


async def _reject_unreviewed(session: AsyncSession, item: Item, now: datetime, prefix: str) -> None:
    routed = RoutedDraft.model_validate_json(item.routed)
    decision = domain.build_decision(
        routed,
        verdict="reject",
        final_text=None,
        reason_codes=["sla_fallback"],
        note="no reviewer decided before the last tier's deadline; the policy rejects it",
        reviewer_ids=[],
        reviewer_tier=item.tier,
        escalations=[Escalation.model_validate(e) for e in (item.escalations or [])],
        now=now,
        fallback_applied=True,
    )
    item.status, item.decided_at, item.version = "decided", now, item.version + 1
    await add_outbox(
        session,
        topic=topic("decisions", prefix),
        key=item.draft_id,
        payload=decision.model_dump_json(),
        now=now,
    )
    await append_audit(
        session,
        actor=SWEEPER,
        action="sla_fallback",
        now=now,
        draft_id=item.draft_id,
        detail={"decision_id": decision.decision_id},
    )
