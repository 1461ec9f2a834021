"""The event contract on a real broker: round trips, CloudEvents headers, DLQ, topic admin."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from hitl_runtime.cloudevents import read_headers
from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.serde import decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from hitl_schemas import TOPICS, DeadLetter, Draft, event_type_of, examples
from testkit import consume

pytestmark = pytest.mark.integration

# Each event type and a registered topic whose value it is.
EVENT_TOPICS = {
    "draft": "drafts",
    "scored_draft": "scored",
    "routed_draft": "needs-review",
    "decision": "decisions",
    "feedback_example": "retraining-feedback",
    "threshold_state": "router-thresholds",
    "model_version": "scorer-models",
    "dead_letter": "drafts.dlq",
}


def test_topics_create_twice_is_harmless(admin: AdminClient, topic_prefix: str) -> None:
    first = create_topics(admin, prefix=topic_prefix, partitions=2)
    second = create_topics(admin, prefix=topic_prefix, partitions=2)

    assert {o.status for o in first} == {"created"}
    assert {o.status for o in second} == {"exists"}
    assert sorted(o.topic for o in first) == sorted(f"{topic_prefix}{n}" for n in TOPICS)
    metadata = admin.list_topics(timeout=10).topics
    assert len(metadata[f"{topic_prefix}drafts"].partitions) == 2
    assert len(metadata[f"{topic_prefix}router-thresholds"].partitions) == 1
    resource = ConfigResource("topic", f"{topic_prefix}router-thresholds")
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"


@pytest.mark.parametrize("kind", sorted(EVENT_TOPICS))
def test_every_event_round_trips_with_cloudevents_headers(
    kind: str,
    topics: str,
    settings: ServiceSettings,
    producer_factory: Callable[..., Producer],
    consumer_factory: Callable[..., Consumer],
) -> None:
    event = examples.ALL[kind]()
    topic_name = EVENT_TOPICS[kind]
    publisher = EventPublisher(producer_factory(), settings)
    publisher.publish(topic_name, "key-1", event)
    publisher.flush()

    [msg] = consume(consumer_factory(topic_name), 1)

    assert msg.key() == b"key-1"
    assert decode(type(event), msg.value()) == event
    headers = read_headers(msg.headers())
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == event_type_of(type(event))
    assert headers["ce_source"] == "/hitl-gate/test"
    assert headers["ce_subject"] == "key-1"
    assert headers["content-type"] == "application/json"
    assert len(headers["ce_id"]) == 36
    assert datetime.fromisoformat(headers["ce_time"]).tzinfo is not None


def _draft_json(**changes: object) -> bytes:
    body = json.loads(examples.draft(text="Your order shipped.").model_dump_json())
    body.update(changes)
    return json.dumps(body).encode()


def _without(field: str) -> bytes:
    body = json.loads(examples.draft(text="Your order shipped.").model_dump_json())
    del body[field]
    return json.dumps(body).encode()


BAD_INPUT = [
    pytest.param(b"{not json", "invalid_json", None, id="not-json"),
    pytest.param(b"", "invalid_json", None, id="empty"),
    pytest.param(b"[1, 2]", "schema", None, id="not-an-object"),
    pytest.param(_without("tenant"), "schema", "tenant", id="missing-field"),
    pytest.param(_draft_json(text=42), "schema", "text", id="wrong-type"),
    pytest.param(_draft_json(schema_version=2), "unknown_version", "schema_version", id="version"),
    pytest.param(_draft_json(text="x" * 200), "oversized", "text", id="oversized-text"),
    pytest.param(b'{"pad": "' + b"x" * 5000 + b'"}', "oversized", None, id="oversized-bytes"),
]


@pytest.mark.parametrize(("payload", "kind", "field"), BAD_INPUT)
def test_bad_input_lands_in_the_dlq_with_its_reason_and_the_next_record_is_processed(
    payload: bytes,
    kind: str,
    field: str | None,
    topics: str,
    settings_factory: Callable[..., ServiceSettings],
    producer_factory: Callable[..., Producer],
    consumer_factory: Callable[..., Consumer],
) -> None:
    settings = settings_factory(max_text_chars=100, max_message_bytes=4096, service_name="scorer")
    raw = producer_factory()
    raw.produce(f"{topics}drafts", key=b"bad-1", value=payload, headers=[("trace", b"t-1")])
    good = examples.draft(text="short and fine")
    raw.produce(f"{topics}drafts", key=b"good-1", value=good.model_dump_json().encode())
    raw.flush(10)

    publisher = EventPublisher(producer_factory(), settings)
    dead_letters = DeadLetterPublisher(publisher, service="scorer", topic_prefix=topics)
    decoded = [
        decode_or_dead_letter(m, Draft, limits=settings.limits, dead_letters=dead_letters)
        for m in consume(consumer_factory("drafts"), 2)
    ]
    publisher.flush()

    assert decoded[0] is None
    assert decoded[1] == good
    [dlq_msg] = consume(consumer_factory("drafts.dlq"), 1)
    letter = decode(DeadLetter, dlq_msg.value())
    assert dlq_msg.key() == b"bad-1"
    assert letter.error.kind == kind
    assert letter.error.field == field
    assert letter.error.message
    assert letter.original_topic == "drafts"
    assert letter.service == "scorer"
    assert base64.b64decode(letter.original_value_b64 or "") == payload
    assert ("trace", base64.b64encode(b"t-1").decode()) in letter.original_headers
    assert read_headers(dlq_msg.headers())["ce_type"] == event_type_of(DeadLetter)
