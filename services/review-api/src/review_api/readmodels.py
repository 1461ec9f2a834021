"""Read models for leads and dashboards: queue and review statistics, current thresholds."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Container, Iterable
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hitl_runtime.metrics import content_type_label
from review_api.db import Item, Review
from review_api.domain import cohens_kappa


class QueueDepth(BaseModel):
    tier: str
    content_type: str
    items: int
    oldest_age_seconds: float


class ReviewerStats(BaseModel):
    reviewer_id: str
    verdicts: int
    median_seconds_per_item: float | None


class Stats(BaseModel):
    queue: list[QueueDepth]
    overdue: int
    sla_breached: int
    decisions_by_verdict: dict[str, int]
    reviewers: list[ReviewerStats]
    two_approval_pairs: int
    two_approval_kappa: float | None


def age(received: datetime | None, now: datetime) -> float:
    if received is None:
        return 0.0
    received = received.replace(tzinfo=UTC) if received.tzinfo is None else received
    return max(0.0, (now - received).total_seconds())


def queue_gauges(
    groups: Iterable[tuple[str, str, int, datetime | None]],
    known: Container[str],
    now: datetime,
) -> dict[tuple[str, str], tuple[int, float]]:
    """(tier, content type, items, oldest received_at) per queued group -> (items, age of the
    oldest) per (tier, content_type label). Types outside the policy (`known`) share one label
    (hitl_runtime.metrics.content_type_label), so their items add up and the oldest of them is
    the age: the gauges stay right however many types producers make up."""
    out: dict[tuple[str, str], tuple[int, float]] = {}
    for tier, content_type, items, oldest in groups:
        key = (tier, content_type_label(content_type, known))
        before_items, before_age = out.get(key, (0, 0.0))
        out[key] = (before_items + items, max(before_age, age(oldest, now)))
    return out


async def stats(session: AsyncSession, now: datetime, recent: int = 20_000) -> Stats:
    queued = Item.status == "queued"
    depth_rows = await session.execute(
        select(Item.tier, Item.content_type, func.count(), func.min(Item.received_at))
        .where(queued)
        .group_by(Item.tier, Item.content_type)
    )
    queue = [
        QueueDepth(tier=t, content_type=c, items=n, oldest_age_seconds=age(oldest, now))
        for t, c, n, oldest in depth_rows
    ]
    overdue = (
        await session.execute(select(func.count()).where(queued, Item.due_at < now))
    ).scalar_one()
    breached = (
        await session.execute(select(func.count()).where(queued, Item.sla_breached.is_(True)))
    ).scalar_one()
    verdict_rows = await session.execute(
        select(Review.verdict, func.count())
        .where(Review.decision_id.is_not(None))
        .group_by(Review.verdict)
    )
    reviews = list(
        (
            await session.execute(
                select(Review.draft_id, Review.reviewer_id, Review.verdict, Review.seconds_spent)
                .order_by(Review.id.desc())
                .limit(recent)
            )
        ).all()
    )
    by_reviewer: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    by_draft: dict[str, list[str]] = defaultdict(list)
    for draft_id, reviewer_id, verdict, seconds in reversed(reviews):
        counts[reviewer_id] += 1
        if seconds is not None:
            by_reviewer[reviewer_id].append(seconds)
        by_draft[draft_id].append(verdict)
    pairs = [(v[0], v[1]) for v in by_draft.values() if len(v) >= 2]
    return Stats(
        queue=queue,
        overdue=overdue,
        sla_breached=breached,
        decisions_by_verdict={v: n for v, n in verdict_rows},
        reviewers=[
            ReviewerStats(
                reviewer_id=r,
                verdicts=counts[r],
                median_seconds_per_item=statistics.median(by_reviewer[r])
                if by_reviewer[r]
                else None,
            )
            for r in sorted(counts)
        ],
        two_approval_pairs=len(pairs),
        two_approval_kappa=cohens_kappa(pairs),
    )
