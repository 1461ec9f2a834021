"""The router as a faust-streaming app: thin wiring around `router.core`.

- `route` agent: `scored` -> `auto-approved` | `needs-review` (or `scored.dlq`), reading each
  content type's serving threshold from the `router-view` GlobalTable, replicated to every worker.
- `regroup` agent: `decisions` -> the router's own topic keyed by content type, so one worker owns
  a type's evidence (or `decisions.dlq`).
- `learn` agent: updates the type's state in the `router-state` Table (changelog-backed: it
  survives restarts), refreshes the view and publishes each change to `router-thresholds`.
With processing_guarantee=exactly_once, outputs and offsets commit in one transaction.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from hitl_runtime.cloudevents import ce_headers, source_of
from hitl_runtime.dlq import dead_letter_for
from hitl_runtime.metrics import DLQ_MESSAGES, END_TO_END_SECONDS, MESSAGES_CONSUMED
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.serde import EventValidationError, decode, encode
from hitl_schemas import Decision, ErrorInfo, Event, ScoredDraft, ThresholdState, topic
from hitl_schemas.registry import dlq_of
from router import metrics
from router.config import RouterSettings
from router.core import RouterConfig, TypeState, initial_state, on_decision, route

log = logging.getLogger(__name__)


def faust_broker(settings: RouterSettings) -> str:
    return ";".join(f"kafka://{host}" for host in settings.kafka_bootstrap.split(","))


def faust_credentials(settings: RouterSettings) -> Any:
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=ssl.create_default_context(cafile=settings.kafka_ssl_ca_location)
            if settings.kafka_security_protocol == "SASL_SSL"
            else None,
        )
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(
            ssl.create_default_context(cafile=settings.kafka_ssl_ca_location)
        )
    return None


def view_of(state: TypeState) -> dict[str, Any]:
    """What routing needs of a type's state; replicated to every worker."""
    return {
        "threshold": state.threshold,
        "mode": state.mode,
        "version": state.version,
        "audit_boost_left": state.audit_boost_left,
    }


def state_from_view(
    content_type: str, view: dict[str, Any] | None, policy: Policy
) -> TypeState | None:
    ct = policy.for_type(content_type)
    if ct is None:
        return None
    state = initial_state(content_type, ct)
    if view:
        state.threshold, state.mode = view["threshold"], view["mode"]
        state.version, state.audit_boost_left = view["version"], view["audit_boost_left"]
    return state


@dataclass
class Router:
    """The built app and its parts; `bootstrap` makes one."""

    app: faust.App
    settings: RouterSettings
    policy: Policy


def bootstrap(settings: RouterSettings, *, policy: Policy | None = None) -> Router:
    policy = policy or load_policy(settings.policy_file)
    config = RouterConfig(recertify_every=settings.recertify_every, audit_seed=settings.audit_seed)
    prefix = settings.topic_prefix
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{prefix}{settings.app_id}",
        broker=faust_broker(settings),
        broker_credentials=faust_credentials(settings),
        store="memory://",
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.internal_partitions,
        topic_replication_factor=1,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=str(settings.data_dir / prefix.rstrip(".") if prefix else settings.data_dir),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        consumer_max_fetch_size=max(settings.max_message_bytes * 2, 1_048_576),
    )
    source = source_of(settings.service_name)
    service = settings.service_name

    def out(name: str) -> faust.TopicT:
        return app.topic(topic(name, prefix), key_type=bytes, value_type=bytes, internal=False)

    scored_in = out("scored")
    decisions_in = out("decisions")
    outputs = {n: out(n) for n in ("auto-approved", "needs-review", "router-thresholds")}
    dlqs = {n: out(dlq_of(n)) for n in ("scored", "decisions")}
    by_type = app.topic(
        f"{prefix}{settings.app_id}-decisions-by-type",
        key_type=bytes,
        value_type=bytes,
        partitions=settings.internal_partitions,
        internal=True,
    )
    # Values are our own JSON bytes: the app's serializers are raw, and the state is plain data.
    states = app.Table(
        "router-state",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.internal_partitions,
    )
    views = app.GlobalTable(
        "router-view",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.internal_partitions,
    )

    async def send(name: str, key: str, event: Event, topics: dict[str, faust.TopicT]) -> None:
        await topics[name].send(
            key=key.encode(),
            value=encode(event),
            headers={
                header: data
                for header, data in ce_headers(event, source=source, subject=key)
                if isinstance(data, bytes)
            },
        )

    async def dead_letter(name: str, message: Any, error: EventValidationError | ErrorInfo) -> None:
        letter = dead_letter_for(
            topic=name,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=message.headers,
            error=error,
            service=service,
        )
        DLQ_MESSAGES.labels(service=service, topic=name, kind=letter.error.kind).inc()
        log.warning(
            "record sent to DLQ",
            extra={
                "fields": {
                    "topic": name,
                    "offset": message.offset,
                    "kind": letter.error.kind,
                    "field": letter.error.field,
                    "reason": letter.error.message,
                }
            },
        )
        key = message.key.decode("utf-8", "replace") if message.key else ""
        await send(name, key, letter, dlqs)

    @app.agent(scored_in)
    async def route_drafts(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            started = time.perf_counter()
            MESSAGES_CONSUMED.labels(service=service, topic="scored").inc()
            try:
                scored = decode(ScoredDraft, event.value, settings.limits)
            except EventValidationError as exc:
                await dead_letter("scored", event.message, exc)
                continue
            try:
                ct = scored.draft.content_type
                raw_view = views.get(ct.encode())
                view = json.loads(raw_view) if raw_view else None
                routed = route(
                    scored, state_from_view(ct, view, policy), policy, config, datetime.now(UTC)
                )
                name = "auto-approved" if routed.route == "auto_approved" else "needs-review"
                await send(name, scored.draft.draft_id, routed, outputs)
            except Exception as exc:  # noqa: BLE001 - a bad record must not stop the router
                log.exception("routing failed")
                await dead_letter(
                    "scored",
                    event.message,
                    ErrorInfo(kind="processing", message=f"{type(exc).__name__}: {exc}"[:2000]),
                )
                continue
            metrics.ROUTED.labels(ct, routed.route, routed.reason.kind).inc()
            if routed.reason.kind == "unknown_content_type":
                metrics.UNKNOWN_CONTENT_TYPE.inc()
            if routed.audit:
                metrics.AUDITS.labels(ct).inc()
            metrics.ROUTING_SECONDS.observe(time.perf_counter() - started)
            END_TO_END_SECONDS.labels(service=service).observe(
                max(0.0, (routed.routed_at - scored.draft.created_at).total_seconds())
            )
            yield None

    @app.agent(decisions_in)
    async def regroup_decisions(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            MESSAGES_CONSUMED.labels(service=service, topic="decisions").inc()
            try:
                decision = decode(Decision, event.value, settings.limits)
            except EventValidationError as exc:
                await dead_letter("decisions", event.message, exc)
                continue
            await by_type.send(key=decision.content_type.encode(), value=event.value)
            yield None

    @app.agent(by_type)
    async def learn(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            decision = decode(Decision, event.value, settings.limits)
            ct = policy.for_type(decision.content_type)
            if ct is None:
                continue  # unknown types are always reviewed; nothing to learn
            key = decision.content_type.encode()
            raw_state = states.get(key)
            stored = json.loads(raw_state) if raw_state else None
            state = (
                TypeState.from_dict(stored) if stored else initial_state(decision.content_type, ct)
            )
            state, published = on_decision(state, decision, ct, config, datetime.now(UTC))
            states[key] = json.dumps(state.to_dict()).encode()
            views[key] = json.dumps(view_of(state)).encode()
            metrics.DECISIONS_LEARNED.labels(decision.content_type).inc()
            for threshold in published:
                await send("router-thresholds", decision.content_type, threshold, outputs)
                export(threshold)
            yield None

    return Router(app=app, settings=settings, policy=policy)


def export(state: ThresholdState) -> None:
    ct = state.content_type
    metrics.THRESHOLD.labels(ct).set(state.threshold)
    metrics.ESCAPE_TARGET.labels(ct).set(state.target_escape_rate)
    if state.escape_estimate is not None:
        metrics.ESCAPE_ESTIMATE.labels(ct).set(state.escape_estimate)
    if state.escape_upper_bound is not None:
        metrics.ESCAPE_UPPER_BOUND.labels(ct).set(state.escape_upper_bound)
