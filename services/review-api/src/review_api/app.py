"""Composition root of the review service: `create_app(settings, ...)` builds the FastAPI app.

The lifespan creates the database engine, the Kafka clients and the two background loops
(ingest of `needs-review`, relay of the outbox); tests inject their own clients or turn ingest off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from confluent_kafka import Consumer, Producer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as SqlPoolTimeout

from hitl_runtime.dlq import DeadLetterPublisher
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.signing import verifier_for
from hitl_runtime.thresholds import LatestThresholds
from hitl_schemas import topic
from review_api import adapters
from review_api.config import ReviewApiSettings
from review_api.domain import Denied
from review_api.limits import BodySizeLimit, RefuseNul
from review_api.notify import Notifier, SmtpTarget
from review_api.routes import admin, health, items, reports
from review_api.store import create_schema_when_up, make_engine, sessions
from review_api.throttle import FailureThrottle
from review_api.tokens import JwtVerifier
from review_api.web import router as web_router

DESCRIPTION = """
The human review service of HITL gate. Reviewers claim an item (a lease that expires), see the
draft with its sources, score and flagged evidence, and approve, reject or edit it. Decisions are
stored with an outbox row in one transaction and relayed to the `decisions` topic.

Authenticate with an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
"""

log = logging.getLogger(__name__)


def create_app(
    settings: ReviewApiSettings,
    *,
    policy: Policy | None = None,
    producer: Producer | None = None,
    consumer: Consumer | None = None,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await create_schema_when_up(engine, wait_seconds=settings.database_start_seconds)
        app.state.sessions = sessions(engine)
        app.state.kafka_admin = make_admin(settings)
        # Fail a delivery within 30 s so a pass ends and the rows are retried on the next one.
        short_timeout: dict[str, Any] = {"message.timeout.ms": 30_000}
        relay_producer = producer or make_producer(settings, **short_timeout)
        stop = asyncio.Event()
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        notifier = Notifier(settings.webhook_url, secret, smtp_target(settings))
        app.state.notifier = notifier
        follower = CompactedFollower(
            settings,
            topic("router-thresholds", settings.topic_prefix),
            app.state.thresholds.apply,
            name="thresholds",
        )
        follower.start()
        tasks = [
            asyncio.create_task(
                adapters.relay_forever(app.state.sessions, relay_producer, settings, stop)
            ),
            asyncio.create_task(
                adapters.sweep_forever(
                    app.state.sessions, app.state.policy, notifier, settings, stop
                )
            ),
        ]
        if settings.ingest:
            dlq = DeadLetterPublisher(
                EventPublisher(make_producer(settings), settings),
                service=settings.service_name,
                topic_prefix=settings.topic_prefix,
            )
            tasks.append(
                asyncio.create_task(
                    adapters.ingest_forever(
                        app.state.sessions,
                        consumer or adapters.make_ingest_consumer(settings),
                        dlq,
                        settings,
                        stop,
                    )
                )
            )
        try:
            yield
        finally:
            follower.stop()
            stop.set()
            # Shutdown is bounded (Kubernetes kills us after its grace period anyway): a relay
            # pass stuck on an unreachable broker is cancelled, and its rows stay in the outbox
            # to be sent by the next start.
            _, stuck = await asyncio.wait(tasks, timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not stuck:  # a last pass, unless rows of a cancelled pass may still be in flight
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        adapters.relay_once(app.state.sessions, relay_producer, settings), 10
                    )
            await asyncio.to_thread(relay_producer.flush, 3)
            await engine.dispose()

    app = FastAPI(
        title="HITL gate review-api", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.policy = policy or load_policy(settings.policy_file)
    app.state.thresholds = LatestThresholds(verifier_for(settings, "router-thresholds"))
    app.state.jwt = (
        JwtVerifier(
            settings.oidc_jwks_url,
            issuer=settings.oidc_issuer or "",
            audience=settings.oidc_audience or "",
        )
        if settings.oidc_jwks_url
        else None
    )
    app.state.auth_throttle = FailureThrottle(settings.auth_failures_per_minute)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RefuseNul)
    app.include_router(health.router)
    app.include_router(items.router)
    app.include_router(admin.router)
    app.include_router(reports.router)
    app.include_router(web_router.router)

    @app.exception_handler(Denied)
    async def denied(_request: Request, exc: Denied) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    # The database restarting or unreachable: a 503 the client can retry, not a 500 (a decision
    # carries an idempotency key, so a retry is safe even if the commit itself went through).
    for unavailable in (OSError, DBAPIError, SqlPoolTimeout):
        app.add_exception_handler(unavailable, database_unavailable)

    return app


async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        raise exc  # our bug, not an outage: a 500 with its traceback in the log
    log.warning(
        "request failed: database unavailable", extra={"fields": {"error": type(exc).__name__}}
    )
    return JSONResponse(
        {"detail": "the review database is unavailable; retry in a few seconds"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def smtp_target(settings: ReviewApiSettings) -> SmtpTarget | None:
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpTarget(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=password,
        sender=settings.smtp_from,
        recipients=tuple(a.strip() for a in settings.smtp_to.split(",") if a.strip()),
    )


def asgi_app() -> Any:
    """For `uvicorn --factory review_api.app:asgi_app`."""
    from review_api.config import load

    return create_app(load())
