"""Dead letters: a record a consumer cannot process goes to `<topic>.dlq` with the reason.

The original key, value and headers travel base64-encoded, so an operator can replay the exact
bytes after fixing the producer. Sending a dead letter never raises for a bad record: only a
broken producer stops the service.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from confluent_kafka import Message

from hitl_runtime.kafka import EventPublisher
from hitl_runtime.metrics import DLQ_MESSAGES, MESSAGES_CONSUMED
from hitl_runtime.serde import EventValidationError, decode
from hitl_schemas import DeadLetter, ErrorInfo, Event, Limits
from hitl_schemas.registry import dlq_of

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


def _b64(data: str | bytes | None) -> str | None:
    if data is None:
        return None
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def dead_letter_for(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: str | bytes | None,
    value: str | bytes | None,
    headers: Iterable[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None,
    error: EventValidationError | ErrorInfo,
    service: str,
) -> DeadLetter:
    """The DeadLetter for one record: the one place that shapes it, whatever client read it."""
    info = error.info() if isinstance(error, EventValidationError) else error
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return DeadLetter(
        original_topic=topic,
        original_partition=max(partition, 0),
        original_offset=max(offset, 0),
        original_key_b64=_b64(key),
        original_value_b64=_b64(value),
        original_headers=[(name, _b64(v)) for name, v in pairs],
        error=info,
        service=service,
        failed_at=datetime.now(UTC),
    )


class DeadLetterPublisher:
    def __init__(self, publisher: EventPublisher, *, service: str, topic_prefix: str) -> None:
        self._publisher = publisher
        self.service = service
        self._prefix = topic_prefix

    def flush(self, timeout: float = 30.0) -> None:
        self._publisher.flush(timeout)

    def registered_name(self, broker_topic: str) -> str:
        """Topic name in the registry for a broker-side (possibly prefixed) name."""
        if self._prefix and broker_topic.startswith(self._prefix):
            return broker_topic[len(self._prefix) :]
        return broker_topic

    def send(self, msg: Message, error: EventValidationError | ErrorInfo) -> DeadLetter:
        source = self.registered_name(msg.topic() or "")
        letter = dead_letter_for(
            topic=source,
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=msg.key(),
            value=msg.value(),
            headers=msg.headers(),
            error=error,
            service=self.service,
        )
        info = letter.error
        key = (msg.key() or b"").decode("utf-8", errors="replace")
        self._publisher.publish(dlq_of(source), key, letter)
        DLQ_MESSAGES.labels(service=self.service, topic=source, kind=info.kind).inc()
        log.warning(
            "record sent to DLQ",
            extra={
                "fields": {
                    "topic": source,
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "kind": info.kind,
                    "field": info.field,
                    "reason": info.message,
                }
            },
        )
        return letter


def decode_or_dead_letter(
    msg: Message, model: type[E], *, limits: Limits, dead_letters: DeadLetterPublisher
) -> E | None:
    """The consumer's one step from record to event: the event, or None after dead-lettering."""
    MESSAGES_CONSUMED.labels(
        service=dead_letters.service, topic=dead_letters.registered_name(msg.topic() or "")
    ).inc()
    try:
        return decode(model, msg.value(), limits)
    except EventValidationError as exc:
        dead_letters.send(msg, exc)
        return None
