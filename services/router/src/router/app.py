"""The router: composition root and the faust app that keeps each content type's evidence.

- `RouteStage` and `RegroupStage` (router.stages): exactly-once stages on confluent-kafka.
- `learn` faust agent: reads the by-type topic (decisions, and the route stage's tallies of the
  drafts it routed, `router.tally`), updates the type's state in the `router-state`
  Table (changelog-backed: it survives restarts), and publishes each change to
  `router-thresholds`, which every replica's RouteStage follows. The offset of the last applied
  decision is stored inside the state value itself, so a decision replayed after a crash is
  recognised and skipped: the state is updated exactly once per decision. So are the ids of
  the type's last decisions, so that one re-sent by review-api's at-least-once relay (a new
  record, same `decision_id`) is learnt once, also across a restart of this router.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from hitl_runtime.cloudevents import ce_headers, source_of
from hitl_runtime.kafka import make_admin, topic_names_when_reachable
from hitl_runtime.metrics import DUPLICATES_DROPPED, UNVERIFIED_EVENTS, content_type_label
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.serde import EventValidationError, decode, encode
from hitl_runtime.signing import Signer, Verifier, signer_for
from hitl_schemas import Decision, ThresholdState, topic
from router import metrics
from router.config import RouterSettings
from router.core import RouterConfig, TypeState, initial_state, on_decision, on_tally
from router.stages import RegroupStage, RouteStage, by_type_topic
from router.tally import TALLY_TYPE, RoutingTally, tally_verifier

log = logging.getLogger(__name__)


def faust_broker(settings: RouterSettings) -> str:
    return ";".join(f"kafka://{host}" for host in settings.kafka_bootstrap.split(","))


def faust_credentials(settings: RouterSettings) -> Any:
    protocol = settings.kafka_security_protocol
    context = (
        ssl.create_default_context(cafile=settings.kafka_ssl_ca_location)
        if protocol in ("SSL", "SASL_SSL")
        else None
    )
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return None


def ensure_by_type_topic(admin: AdminClient, settings: RouterSettings) -> None:
    """The by-type topic is the router's own; create it when missing (idempotent)."""
    name = by_type_topic(settings)
    if name in topic_names_when_reachable(admin):
        return
    futures = admin.create_topics([NewTopic(name, settings.internal_partitions, 1)])
    try:
        futures[name].result(timeout=30)
    except Exception as exc:  # noqa: BLE001 - another replica may have created it first
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


@dataclass
class Router:
    """The built service: a faust app for learning and two exactly-once stages."""

    app: faust.App
    route_stage: RouteStage
    regroup_stage: RegroupStage
    settings: RouterSettings
    policy: Policy


# Decision ids kept per content type. Re-sends are one relay batch of a restarted review-api
# replica (at most 500 decisions over all types); the ids ride in every changelog write of the
# value, so the list stays short.
RECENT_DECISIONS = 500


def resent(stored: dict[str, Any] | None, decision: Decision) -> bool:
    """Was this decision already learnt (review-api sent it again)?"""
    return stored is not None and decision.decision_id in stored.get("recent", ())


def apply_decision(
    stored: dict[str, Any] | None,
    decision: Decision,
    partition: int,
    offset: int,
    policy: Policy,
    config: RouterConfig,
    now: datetime,
) -> tuple[dict[str, Any] | None, list[ThresholdState]]:
    """One by-type record against the stored value: (new value, thresholds to publish), or
    (None, []) when the record was applied before (a replay after a crash, or a decision sent
    again) or is not learnable."""
    ct = policy.for_type(decision.content_type)
    if ct is None or resent(stored, decision):
        return None, []
    return _apply(
        stored, decision.content_type, partition, offset, policy,
        lambda state: on_decision(state, decision, ct, config, now),
        decision_id=decision.decision_id,
    )  # fmt: skip


def _count_rise(
    counter: Any, label: str, field: str, stored: dict[str, Any] | None, value: dict[str, Any]
) -> None:
    """Add to `counter` what a record added to the stored state's count `field`."""
    rise = value["state"].get(field, 0) - (stored["state"].get(field, 0) if stored else 0)
    if rise > 0:
        counter.labels(label).inc(rise)


def apply_tally(
    stored: dict[str, Any] | None,
    tally: RoutingTally,
    partition: int,
    offset: int,
    policy: Policy,
    config: RouterConfig,
    now: datetime,
) -> tuple[dict[str, Any] | None, list[ThresholdState]]:
    """A route batch's tally against the stored value, as `apply_decision`."""
    ct = policy.for_type(tally.content_type)
    if ct is None:
        return None, []
    cells = [(c.bucket, c.auto, c.reviewed, c.audit_q) for c in tally.cells]
    return _apply(
        stored, tally.content_type, partition, offset, policy,
        lambda state: on_tally(state, cells, review_all=tally.review_all, phase=tally.audit_phase,
                               version=tally.threshold_version, at=tally.slice, ct=ct,
                               config=config, now=now),
    )  # fmt: skip


def _apply(
    stored: dict[str, Any] | None,
    content_type: str,
    partition: int,
    offset: int,
    policy: Policy,
    step: Callable[[TypeState], tuple[TypeState, list[ThresholdState]]],
    decision_id: str | None = None,
) -> tuple[dict[str, Any] | None, list[ThresholdState]]:
    ct = policy.content_types[content_type]
    offsets: dict[str, int] = dict(stored["offsets"]) if stored else {}
    if offsets.get(str(partition), -1) >= offset:
        return None, []
    state = TypeState.from_dict(stored["state"], ct) if stored else initial_state(content_type, ct)
    state, published = step(state)
    offsets[str(partition)] = offset
    recent = list(stored.get("recent", ())) if stored else []
    if decision_id is not None:
        recent = [*recent, decision_id][-RECENT_DECISIONS:]
    return {"state": state.to_dict(), "offsets": offsets, "recent": recent}, published


def decode_by_type(
    event: Any, settings: RouterSettings, tallies: Verifier
) -> Decision | RoutingTally | None:
    """A by-type record: a tally a router signed (its ce_type says it is one) or a decision the
    regroup stage verified; None for anything else (neither stage writes it)."""
    headers = dict(event.headers or {})
    kind = headers.get("ce_type", b"")
    try:
        if kind == TALLY_TYPE.encode():
            reason = tallies.check(event.key, event.value, list(headers.items()))
            if reason is not None:
                UNVERIFIED_EVENTS.labels(settings.service_name, tallies.topic, reason).inc()
                log.warning(
                    "a routing tally no router signed was dropped",
                    extra={"fields": {"reason": reason, "partition": event.message.partition,
                                      "offset": event.message.offset}},
                )  # fmt: skip
                return None
            return RoutingTally.model_validate_json(event.value)
        return decode(Decision, event.value, settings.limits)
    except (EventValidationError, ValueError):
        log.warning(
            "a by-type record neither stage could have written was skipped",
            extra={"fields": {"partition": event.message.partition,
                              "offset": event.message.offset}},
        )  # fmt: skip
        return None


def threshold_headers(
    state: ThresholdState, key: bytes, body: bytes, source: str, signer: Signer | None
) -> dict[str, bytes]:
    """The CloudEvents headers of a published threshold, signed (faust takes a dict)."""
    headers = ce_headers(state, source=source, subject=state.content_type)
    if signer is not None:
        headers = signer.sign("router-thresholds", key, body, headers)
    return {name: data for name, data in headers if isinstance(data, bytes)}


def bootstrap(settings: RouterSettings, *, policy: Policy | None = None) -> Router:
    policy = policy or load_policy(settings.policy_file)
    config = RouterConfig(recertify_every=settings.recertify_every, audit_seed=settings.audit_seed)
    prefix = settings.topic_prefix
    ensure_by_type_topic(make_admin(settings), settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{prefix}{settings.app_id}",
        broker=faust_broker(settings),
        broker_credentials=faust_credentials(settings),
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=settings.internal_partitions,
        topic_replication_factor=1,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        datadir=str(settings.data_dir),
        consumer_auto_offset_reset="earliest",
        # Static membership: a restarted replica takes its partitions back at once.
        consumer_group_instance_id=f"{settings.effective_instance_id}-learn",
        producer_acks=-1,
    )
    source = source_of(settings.service_name)
    by_type = app.topic(
        by_type_topic(settings),
        key_type=bytes,
        value_type=bytes,
        partitions=settings.internal_partitions,
        internal=False,
    )
    thresholds = app.topic(
        topic("router-thresholds", prefix), key_type=bytes, value_type=bytes, internal=False
    )
    # Values are our own JSON bytes: the app's serializers are raw, and the state is plain data.
    states = app.Table(
        "router-state",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.internal_partitions,
    )

    signer = signer_for(settings)  # replicas and review-api drop thresholds not signed so
    tally_checks = tally_verifier(settings, by_type_topic(settings))

    @app.agent(by_type)
    async def learn(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            record = decode_by_type(event, settings, tally_checks)
            if record is None:
                continue
            key = record.content_type.encode()
            raw = states.get(key)
            stored = json.loads(raw) if raw else None
            partition, offset, now = (
                event.message.partition,
                event.message.offset,
                datetime.now(UTC),
            )
            if isinstance(record, RoutingTally):
                value, published = apply_tally(stored, record, partition, offset, policy,
                                               config, now)  # fmt: skip
            elif resent(stored, record):
                DUPLICATES_DROPPED.labels(settings.service_name, "decisions").inc()
                continue  # re-sent by review-api's at-least-once relay: learn it once
            else:
                value, published = apply_decision(stored, record, partition, offset, policy,
                                                  config, now)  # fmt: skip
            if value is None:
                continue
            states[key] = json.dumps(value).encode()
            label = content_type_label(record.content_type, policy.content_types)
            if isinstance(record, Decision):
                metrics.DECISIONS_LEARNED.labels(label).inc()
                _count_rise(metrics.UNMATCHED_VERDICTS, label, "unmatched_verdicts", stored, value)
            else:
                _count_rise(metrics.REFUSED_TALLIES, label, "refused_tallies", stored, value)
            for state in published:
                body = encode(state)
                await thresholds.send(
                    key=key, value=body, headers=threshold_headers(state, key, body, source, signer)
                )
                metrics.export_threshold(state, policy.content_types)
            yield None

    return Router(
        app=app,
        route_stage=RouteStage(settings, policy, config),
        regroup_stage=RegroupStage(settings),
        settings=settings,
        policy=policy,
    )
