"""Liveness, readiness and metrics: no authentication, no data."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from hitl_runtime.health import STAGES
from review_api.models import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "A stage is stuck; restart the pod"}})
async def healthz() -> JSONResponse:
    # Live unless the stage watchdog found the ingest stage stuck (it also ends the process).
    if not STAGES.live():
        return JSONResponse({"status": "stuck", "stages": STAGES.stalled}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database does not answer"}},
)
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with request.app.state.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    admin = request.app.state.kafka_admin
    try:
        await asyncio.to_thread(admin.list_topics, timeout=3)
        checks["kafka"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["kafka"] = f"error: {type(exc).__name__}"
    # Decisions are accepted while Kafka is down (the outbox holds them), so readiness needs the
    # database only; Kafka's state is reported for the operator.
    ready = checks["database"] == "ok"
    return JSONResponse(
        checks | {"status": "ready" if ready else "not ready"}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
