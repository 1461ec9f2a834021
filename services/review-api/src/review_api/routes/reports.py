"""Reports for leads and admins: queue and reviewer statistics, current thresholds."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request

from hitl_schemas import ThresholdState
from review_api import readmodels
from review_api.deps import Caller, Session
from review_api.models import refusals

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/stats", response_model=readmodels.Stats, responses=refusals(401, 403))
async def stats(session: Session, caller: Caller) -> readmodels.Stats:
    if caller.role not in ("lead", "admin"):
        raise HTTPException(403, f"lead or admin role required; you are {caller.role}")
    return await readmodels.stats(session, datetime.now(UTC))


@router.get("/thresholds", response_model=list[ThresholdState], responses=refusals(401))
async def thresholds(request: Request, caller: Caller) -> list[ThresholdState]:
    """The router's current threshold per content type (any authenticated caller)."""
    current: dict[str, ThresholdState] = request.app.state.thresholds.current
    return [current[k] for k in sorted(current)]
