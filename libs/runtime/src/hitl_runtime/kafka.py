"""confluent-kafka clients built from settings, and the one way to publish an event.

Nothing here runs at import: services call these from their composition root.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from hitl_runtime.cloudevents import ce_headers, source_of
from hitl_runtime.limits import OutputTooLarge, max_event_bytes, max_record_bytes
from hitl_runtime.metrics import MESSAGES_PRODUCED
from hitl_runtime.serde import encode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import Signer
from hitl_schemas import Event
from hitl_schemas.registry import topic

log = logging.getLogger(__name__)


class Throttle:
    """At most one line per key per `every` seconds: a broker outage makes librdkafka report
    the same connection failure many times a second, and an on-call reader needs one line
    saying so (with how many were held back), not thousands."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self._clock = every, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def admit(self, key: str) -> int | None:
        """None to hold this one back, else how many of its kind were held back before it."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


class _ThrottleFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.throttle = Throttle()

    def filter(self, record: logging.LogRecord) -> bool:
        return self.throttle.admit(f"{record.levelno}:{record.getMessage()[:60]}") is not None


_client_errors = Throttle()
_librdkafka_log = logging.getLogger("librdkafka")
_librdkafka_log.addFilter(_ThrottleFilter())


def client_config(settings: ServiceSettings) -> dict[str, Any]:
    """Connection and security settings shared by producers, consumers and admin clients."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol,
        "client.id": f"hitl-{settings.service_name}",
        "error_cb": _log_client_error,
        # librdkafka's own log lines through logging (JSON, throttled), not raw to stderr.
        "logger": _librdkafka_log,
    }
    if settings.kafka_sasl_mechanism:
        conf["sasl.mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        conf["sasl.username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password:
        conf["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_ca_location:
        conf["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return conf


def _log_client_error(err: KafkaError) -> None:
    # librdkafka retries transient errors itself; fatal ones mean the client must be rebuilt.
    fatal = err.fatal()
    held = 0 if fatal else _client_errors.admit(err.name())
    if held is None:
        return
    fields = {"code": err.name(), "reason": err.str(), "similar_held_back": held}
    log.log(logging.ERROR if fatal else logging.WARNING, "kafka client error",
            extra={"fields": fields})  # fmt: skip


def make_producer(
    settings: ServiceSettings, *, transactional_id: str | None = None, **overrides: Any
) -> Producer:
    """Idempotent producer (acks=all); transactional when given a transactional id."""
    conf = client_config(settings) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": max_record_bytes(settings),
    }
    if transactional_id:
        conf["transactional.id"] = transactional_id
        conf["transaction.timeout.ms"] = 60_000
    conf.update(overrides)
    return Producer(conf)


def make_consumer(settings: ServiceSettings, *, group_id: str, **overrides: Any) -> Consumer:
    """Consumer that sees only committed records and commits offsets only when told to."""
    conf = client_config(settings) | {
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "fetch.message.max.bytes": max_record_bytes(settings),
    }
    conf.update(overrides)
    return Consumer(conf)


def make_stage_consumer(settings: ServiceSettings, *, group_id: str, instance_id: str) -> Consumer:
    """The consumer of an exactly-once stage (TransactionalLoop): eager range assignment, so a
    rebalance never lands mid-transaction, and static membership under the replica's stable id,
    so a restarted replica takes its partitions back at once instead of waiting out the session
    timeout."""
    return make_consumer(
        settings,
        group_id=group_id,
        **{"partition.assignment.strategy": "range", "group.instance.id": instance_id},
    )


def make_admin(settings: ServiceSettings) -> AdminClient:
    return AdminClient(client_config(settings))


def broker_probe(settings: ServiceSettings, *, timeout: float = 5.0) -> Callable[[], bool]:
    """A check that the cluster answers a metadata request now (for the stage watchdog)."""
    admin = make_admin(settings)

    def answers() -> bool:
        try:
            admin.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    return answers


def topic_names_when_reachable(admin: AdminClient, *, timeout: float = 300.0) -> set[str]:
    """The cluster's topic names, asked until the broker answers: a replica (re)started while
    the broker is down waits for it, as its clients would, instead of exiting at start."""
    deadline = time.monotonic() + timeout
    warned = False
    while True:
        try:
            return set(admin.list_topics(timeout=10).topics)
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise
            if not warned:
                log.warning("waiting for the Kafka broker", extra={"fields": {"reason": str(exc)}})
                warned = True
            time.sleep(1.0)  # retry pacing while the broker is away, bounded by the deadline


DeliveryCallback = Callable[[KafkaError | None, Message], None]


class EventPublisher:
    """Publishes contract events to registered topics with CloudEvents headers.

    `flush()` or the caller's transaction commit decides durability; delivery failures are
    raised from `flush()` so they are never lost silently.
    """

    def __init__(
        self, producer: Producer, settings: ServiceSettings, *, signer: Signer | None = None
    ) -> None:
        self.producer = producer
        self._signer = signer  # signs every record: give one only to a signed topic's writer
        self._prefix = settings.topic_prefix
        self._source = source_of(settings.service_name)
        self._service = settings.service_name
        self._failures: list[str] = []
        self.max_record_bytes = max_record_bytes(settings)
        self._settings = settings  # each event type's size limit (hitl_runtime.limits)

    def publish(
        self, topic_name: str, key: str, event: Event, *, event_id: str | None = None
    ) -> None:
        target = topic(topic_name, self._prefix)
        value = encode(event)
        limit = max_event_bytes(self._settings, type(event))
        if len(value) > limit:  # librdkafka would refuse it with an error no transaction survives
            raise OutputTooLarge(topic_name, type(event).__name__, len(value), limit)
        headers = ce_headers(event, source=self._source, subject=key, event_id=event_id)
        if self._signer is not None:
            headers = self._signer.sign(topic_name, key, value, headers)
        self.producer.produce(
            target, key=key.encode(), value=value, headers=headers, on_delivery=self._on_delivery
        )
        MESSAGES_PRODUCED.labels(service=self._service, topic=topic_name).inc()
        self.producer.poll(0)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}: {err.str()}")

    def drain_failures(self) -> list[str]:
        """Delivery failures seen since the last call (a transaction's commit reports its own)."""
        failures, self._failures = self._failures, []
        return failures

    def flush(self, timeout: float = 30.0) -> None:
        remaining = self.producer.flush(timeout)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise KafkaException(
                KafkaError(
                    KafkaError._MSG_TIMED_OUT if remaining else KafkaError._FAIL,
                    f"{remaining} undelivered; failures: {failures[:5]}",
                )
            )
