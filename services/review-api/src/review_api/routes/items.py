"""The review queue: list, claim, release, decide, escalate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hitl_schemas import RoutedDraft
from review_api import service
from review_api.deps import Caller, PolicyDep, Session, Settings
from review_api.domain import check_can_work, check_edit_length
from review_api.edit_check import EditCheck, check_edit
from review_api.models import (
    DecideBody,
    DecisionOut,
    EditCheckBody,
    EscalateBody,
    ItemDetail,
    ItemSummary,
    QueuePage,
    refusals,
)

router = APIRouter(prefix="/v1/items", tags=["items"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.get(
    "",
    response_model=QueuePage,
    responses=refusals(401, 422),
    summary="The queue you can work, most urgent first",
)
async def list_items(
    session: Session,
    caller: Caller,
    policy: PolicyDep,
    tier: str | None = None,
    content_type: str | None = None,
    overdue: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueuePage:
    items, next_cursor = await service.list_queue(
        session,
        principal=caller,
        policy=policy,
        now=_now(),
        tier=tier,
        content_type=content_type,
        overdue=overdue,
        cursor=cursor,
        limit=limit,
    )
    return QueuePage(items=items, next_cursor=next_cursor)


@router.post(
    "/claim-next",
    response_model=ItemDetail,
    responses={**refusals(401), 204: {"description": "Queue is empty"}},
    summary="Claim the most urgent item you may work (a lease that expires)",
)
async def claim_next(
    session: Session, caller: Caller, policy: PolicyDep, settings: Settings, response: Response
) -> ItemDetail | Response:
    now = _now()
    item = await service.claim_next(
        session, principal=caller, policy=policy, now=now, lease_seconds=settings.lease_seconds
    )
    if item is None:
        return Response(status_code=204)
    return service.detail(item, policy, now)


@router.get(
    "/{draft_id}",
    response_model=ItemDetail,
    responses=refusals(401, 403, 404),
    summary="One item with its evidence",
)
async def get_item(
    draft_id: str, session: Session, caller: Caller, policy: PolicyDep
) -> ItemDetail:
    item = await service.get_item(session, draft_id)
    check_can_work(caller, service._view(item), policy)
    return service.detail(item, policy, _now())


@router.post(
    "/{draft_id}/claim",
    response_model=ItemDetail,
    responses=refusals(401, 403, 404, 409),
    summary="Claim this item",
)
async def claim(
    draft_id: str, session: Session, caller: Caller, policy: PolicyDep, settings: Settings
) -> ItemDetail:
    now = _now()
    item = await service.claim_item(
        session,
        principal=caller,
        policy=policy,
        draft_id=draft_id,
        now=now,
        lease_seconds=settings.lease_seconds,
    )
    return service.detail(item, policy, now)


@router.post(
    "/{draft_id}/release",
    status_code=204,
    responses=refusals(401, 403, 404, 409),
    summary="Give the item back to the queue",
)
async def release(draft_id: str, session: Session, caller: Caller, policy: PolicyDep) -> Response:
    await service.release(session, principal=caller, draft_id=draft_id, now=_now(), policy=policy)
    return Response(status_code=204)


@router.post(
    "/{draft_id}/decision",
    response_model=DecisionOut,
    responses=refusals(401, 403, 404, 409, 413, 422),
    summary="Approve, reject or edit",
)
async def decide(
    draft_id: str,
    body: DecideBody,
    session: Session,
    caller: Caller,
    policy: PolicyDep,
    settings: Settings,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> DecisionOut:
    decision_id, status = await service.decide(
        session,
        principal=caller,
        policy=policy,
        draft_id=draft_id,
        verdict=body.verdict,
        final_text=body.final_text,
        reason_codes=body.reason_codes,
        note=body.note,
        idempotency_key=idempotency_key,
        now=_now(),
        topic_prefix=settings.topic_prefix,
        limits=settings.limits,
    )
    return DecisionOut(
        draft_id=draft_id,
        decision_id=decision_id,
        verdict=body.verdict,
        status=status,
    )


@router.post(
    "/{draft_id}/edit-check",
    response_model=EditCheck,
    responses=refusals(401, 403, 404, 413, 422),
    summary="Re-read an edit with the scorer's grounding and PII checks (warnings, not a block)",
)
async def edit_check(
    draft_id: str, body: EditCheckBody, session: Session, caller: Caller, policy: PolicyDep,
    settings: Settings,
) -> EditCheck:  # fmt: skip
    item = await service.get_item(session, draft_id)
    check_can_work(caller, service._view(item), policy)
    check_edit_length(body.final_text, settings.limits)
    draft = RoutedDraft.model_validate_json(item.routed).draft
    # The checks are CPU work (tens of ms at the size limits): off the event loop.
    return await run_in_threadpool(check_edit, draft, body.final_text)


@router.post(
    "/{draft_id}/escalate",
    response_model=ItemSummary,
    responses=refusals(401, 403, 404, 409, 413, 422),
    summary="Unsure, or a policy question: send it to the next tier",
)
async def escalate(
    draft_id: str,
    body: EscalateBody,
    session: Session,
    caller: Caller,
    policy: PolicyDep,
    request: Request,
    background: BackgroundTasks,
) -> ItemSummary:
    now = _now()
    item = await service.escalate(
        session,
        principal=caller,
        policy=policy,
        draft_id=draft_id,
        reason=body.reason,
        note=body.note,
        now=now,
    )
    # Background tasks run after the request's transaction has committed.
    background.add_task(
        request.app.state.notifier.send,
        [
            {
                "event": "escalated",
                "draft_id": draft_id,
                "content_type": item.content_type,
                "tier": item.tier,
                "reason": body.reason,
                "at": now.isoformat(),
            }
        ],
    )
    return service.summary(item, now)
