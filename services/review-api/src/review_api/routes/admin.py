"""Administration: reviewers, API keys, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from review_api.db import ApiKey, AuditEntry, Reviewer
from review_api.deps import Admin, PolicyDep, Session
from review_api.models import AuditOut, KeyOut, ReviewerCreate, refusals
from review_api.store import append_audit, hash_key, new_api_key

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/reviewers",
    status_code=201,
    response_model=ReviewerCreate,
    responses=refusals(401, 403, 409, 413, 422),
)
async def create_reviewer(
    body: ReviewerCreate, session: Session, admin: Admin, policy: PolicyDep
) -> ReviewerCreate:
    if body.tier not in policy.tiers:
        raise HTTPException(422, f"tier: {body.tier!r} is not one of {policy.tiers}")
    if await session.get(Reviewer, body.id) is not None:
        raise HTTPException(409, f"reviewer {body.id} exists")
    session.add(
        Reviewer(
            id=body.id,
            display_name=body.display_name,
            role=body.role,
            tier=body.tier,
            content_types=body.content_types,
            active=True,
        )
    )
    await append_audit(
        session,
        actor=admin.reviewer_id,
        action="create_reviewer",
        now=datetime.now(UTC),
        detail={"reviewer": body.id, "role": body.role},
    )
    return body


@router.post(
    "/reviewers/{reviewer_id}/keys",
    status_code=201,
    response_model=KeyOut,
    responses=refusals(401, 403, 404),
)
async def issue_key(reviewer_id: str, session: Session, admin: Admin) -> KeyOut:
    if await session.get(Reviewer, reviewer_id) is None:
        raise HTTPException(404, f"no reviewer {reviewer_id}")
    key = new_api_key()
    now = datetime.now(UTC)
    session.add(ApiKey(key_hash=hash_key(key), reviewer_id=reviewer_id, created_at=now))
    await append_audit(
        session,
        actor=admin.reviewer_id,
        action="issue_key",
        now=now,
        detail={"reviewer": reviewer_id},
    )
    return KeyOut(reviewer_id=reviewer_id, api_key=key)


@router.get("/audit", response_model=list[AuditOut], responses=refusals(401, 403, 422))
async def audit_trail(
    session: Session,
    admin: Admin,
    draft_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if draft_id:
        query = query.where(AuditEntry.draft_id == draft_id)
    rows = (await session.execute(query)).scalars()
    return [
        AuditOut(at=r.at, actor=r.actor, action=r.action, draft_id=r.draft_id, detail=r.detail)
        for r in rows
    ]
