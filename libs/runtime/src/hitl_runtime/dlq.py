"""Dead letters: a record a consumer cannot process goes to `<topic>.dlq` with the reason.

The original key, value and headers travel base64-encoded, so an operator can replay the exact
bytes after fixing the producer; a record too big to travel so (base64 adds a third) is not
copied, and the letter says where it stays. Sending a dead letter never raises for a bad record:
only a broken producer stops the service.
"""

from __future__ import annotations

import base64
import logging
import operator
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import EllipsisType
from typing import TypeVar

from confluent_kafka import Message

from hitl_runtime.cloudevents import check_headers
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.limits import RECORD_ENVELOPE_BYTES, OutputTooLarge, without_spans
from hitl_runtime.metrics import (
    DLQ_MESSAGES,
    MESSAGES_CONSUMED,
    OUTPUTS_SHRUNK,
    UNVERIFIED_EVENTS,
)
from hitl_runtime.serde import EventValidationError, decode, encode
from hitl_runtime.signing import Verifier, describe
from hitl_schemas import DeadLetter, ErrorInfo, Event, Limits
from hitl_schemas.registry import dlq_of

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Headers = list[tuple[str, str | bytes | None]]
# Room in a dead-letter record for what is not the letter's value: its key and CloudEvents
# headers (the key is cut to this much when the original is too big to copy), and batch framing.
_ENVELOPE_BYTES = RECORD_ENVELOPE_BYTES


def record_headers(msg: Message) -> Headers | None:
    """A consumed record's headers, or None when the client cannot read them.

    confluent-kafka cannot decode a header name that is not UTF-8 (which no protocol check
    prevents): `headers()` returns a list holding a NULL with the error left pending. Called
    through `methodcaller` the interpreter turns that into a SystemError every time; called as
    `msg.headers()` in a hot loop, the specialised call skips the check and the next touch of the
    list crashes the process (SIGSEGV). Ask once, through here, and pass the answer on.
    """
    try:
        raw = _HEADERS(msg)
    except (SystemError, ValueError):
        return None
    return list(raw.items() if isinstance(raw, dict) else raw or [])


_HEADERS = operator.methodcaller("headers")


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

    def send(
        self,
        msg: Message,
        error: EventValidationError | ErrorInfo,
        *,
        headers: Headers | None | EllipsisType = ...,
    ) -> DeadLetter:
        """Dead-letter `msg`; `headers` as `record_headers` gave them, when the caller asked."""
        source = self.registered_name(msg.topic() or "")
        if headers is ...:
            headers = record_headers(msg)
        if headers is None:
            error = _noted(error, "headers not kept: a header name is not UTF-8")
        letter = dead_letter_for(
            topic=source,
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=msg.key(),
            value=msg.value(),
            headers=headers,
            error=error,
            service=self.service,
        )
        key = (msg.key() or b"").decode("utf-8", errors="replace")
        limit = self._publisher.max_record_bytes - _ENVELOPE_BYTES
        if len(encode(letter)) > limit - len(key.encode()):
            letter = self._without_copy(letter)
            key = key[: _ENVELOPE_BYTES // 16]
        info = letter.error
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

    @staticmethod
    def _without_copy(letter: DeadLetter) -> DeadLetter:
        size = sum(len(b or "") for b in (letter.original_key_b64, letter.original_value_b64))
        size += sum(len(name) + len(value or "") for name, value in letter.original_headers)
        note = (
            f"original not kept: {size} base64 characters do not fit a dead letter; it stays at "
            f"{letter.original_topic} partition {letter.original_partition} offset "
            f"{letter.original_offset} until retention"
        )
        return letter.model_copy(
            update={
                "original_key_b64": None,
                "original_value_b64": None,
                "original_headers": [],
                "error": _noted(letter.error, note),
            }
        )


def _noted(error: EventValidationError | ErrorInfo, note: str) -> ErrorInfo:
    info = error.info() if isinstance(error, EventValidationError) else error
    return info.model_copy(update={"message": f"{info.message[: 1990 - len(note)]}; {note}"})


def decode_or_dead_letter(
    msg: Message,
    model: type[E],
    *,
    limits: Limits,
    dead_letters: DeadLetterPublisher,
    verifier: Verifier | None = None,
) -> E | None:
    """The consumer's one step from record to event: the event, or None after dead-lettering.

    With a `verifier` (a signed topic) the signature is checked first: bytes no trusted key
    signed are not even parsed."""
    source = dead_letters.registered_name(msg.topic() or "")
    MESSAGES_CONSUMED.labels(service=dead_letters.service, topic=source).inc()
    headers: Headers | None | EllipsisType = ...
    if verifier is not None:
        headers = record_headers(msg)
        if headers is None:
            error = EventValidationError("schema", "a header name is not UTF-8 text", "headers")
            dead_letters.send(msg, error, headers=headers)
            return None
        reason = verifier.check(msg.key(), msg.value(), headers)
        if reason is not None:
            UNVERIFIED_EVENTS.labels(dead_letters.service, source, reason).inc()
            info = ErrorInfo(kind="unverified", field="headers.hitl_sig", message=describe(
                reason, source, headers))  # fmt: skip
            dead_letters.send(msg, info, headers=headers)
            return None
    try:
        event = decode(model, msg.value(), limits)
        if headers is ...:
            headers = record_headers(msg)
        if headers is None:
            raise EventValidationError("schema", "a header name is not UTF-8 text", "headers")
        check_headers(headers, model)
    except EventValidationError as exc:
        dead_letters.send(msg, exc, headers=headers)
        return None
    return event


def publish_or_dead_letter(
    msg: Message,
    topic_name: str,
    key: str,
    event: E,
    *,
    publisher: EventPublisher,
    dead_letters: DeadLetterPublisher,
) -> E | None:
    """Publish what `msg` became, bounded: as it is; if too large, without the span lists of its
    score (each signal says how many it left out); if still too large, not at all: `msg` goes
    to its DLQ (`output_too_large`, with both sizes) and the stage goes on with the next record.
    Returns the event published, or None."""
    try:
        publisher.publish(topic_name, key, event)
        return event
    except OutputTooLarge as exc:
        too_large = exc
    smaller = without_spans(event)
    if smaller is not event:
        try:
            publisher.publish(topic_name, key, smaller)
        except OutputTooLarge as exc:
            too_large = exc
        else:
            OUTPUTS_SHRUNK.labels(service=dead_letters.service, topic=topic_name).inc()
            log.warning(
                "output published without its spans to fit the size limit",
                extra={
                    "fields": {
                        "topic": topic_name,
                        "key": key[:128],
                        "bytes": too_large.size,
                        "limit": too_large.limit,
                    }
                },
            )
            return smaller
    dead_letters.send(
        msg,
        ErrorInfo(
            kind="output_too_large",
            message=f"{too_large} even without its spans; input {len(msg.value() or b'')} bytes",
        ),
    )
    return None
