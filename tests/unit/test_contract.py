"""The event contract without a broker: validation, limits, the registry, generated schemas."""

from __future__ import annotations

import json

import pytest

from hitl_runtime.serde import EventValidationError, decode, encode
from hitl_schemas import (
    EVENT_TYPES,
    TOPICS,
    Decision,
    Draft,
    Limits,
    RoutedDraft,
    event_type_of,
    examples,
    topic,
)
from hitl_schemas.jsonschema import stale
from hitl_schemas.registry import dlq_of


def body(**changes: object) -> bytes:
    data = json.loads(examples.draft(text="Your order shipped.").model_dump_json())
    data["context"] = {"prompt": "Reply to the customer."}
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize("kind", sorted(examples.ALL))
def test_every_example_round_trips_through_json(kind: str) -> None:
    event = examples.ALL[kind]()
    assert decode(type(event), encode(event)) == event


CASES = [
    # payload, kind, field, words the message must contain
    (b"{oops", "invalid_json", None, "json"),
    (b"\xff\xfe{}", "invalid_json", None, "json"),
    (body(text="x").replace(b'"x"', b'"\\ud800"'), "invalid_json", None, "hex escape"),
    (b"", "invalid_json", None, "empty payload"),
    (b"null", "schema", None, "JSON object"),
    (b'"a string"', "schema", None, "JSON object"),
    (body(tenant=None), "schema", "tenant", "string"),
    (body(content_type="Customer Email"), "schema", "content_type", "pattern"),
    (body(text=["a"]), "schema", "text", "string"),
    (body(created_at="2026-11-02T09:30:00"), "schema", "created_at", "timezone"),
    (
        body(producer={"app": "a", "model": "m", "confidence": 1.5}),
        "schema",
        "producer.confidence",
        "less than or equal to 1",
    ),
    (body(unexpected=1), "schema", "unexpected", "Extra inputs"),
    (body(schema_version=2), "unknown_version", "schema_version", "unknown schema_version 2"),
    (body(schema_version=2, tenant=None), "unknown_version", "schema_version", "more problem"),
    (body(text="x" * 101), "oversized", "text", "101 characters"),
    (body(context={"prompt": "p" * 300}), "oversized", "context", "300 characters"),
    (b" " * 5000, "oversized", None, "5000 bytes"),
]


@pytest.mark.parametrize(("payload", "kind", "field", "words"), CASES)
def test_bad_payloads_raise_one_error_type_naming_field_and_problem(
    payload: bytes, kind: str, field: str | None, words: str
) -> None:
    limits = Limits(max_message_bytes=4096, max_text_chars=100, max_context_chars=200)
    with pytest.raises(EventValidationError) as caught:
        decode(Draft, payload, limits)
    assert caught.value.kind == kind
    assert caught.value.field == field
    assert words.lower() in caught.value.message.lower()
    assert caught.value.info().kind == kind


def test_limits_are_configurable_and_default_to_generous_sizes() -> None:
    long_text = "word " * 2_000
    assert decode(Draft, body(text=long_text)).text == long_text
    with pytest.raises(EventValidationError):
        decode(Draft, body(text=long_text), Limits(max_text_chars=1_000))


def test_decision_final_text_obeys_the_text_limit() -> None:
    payload = encode(examples.decision(final_text="y" * 150))
    with pytest.raises(EventValidationError) as caught:
        decode(Decision, payload, Limits(max_text_chars=120))
    assert caught.value.field in {"final_text", "draft.text"}


def test_routed_draft_carries_the_routing_facts() -> None:
    routed = examples.routed_draft()
    assert isinstance(routed, RoutedDraft)
    assert 0 < routed.audit_q <= 1
    assert routed.due_at > routed.routed_at


def test_generated_json_schemas_are_up_to_date() -> None:
    assert stale() == [], "run `make schemas` and commit schemas/json"


def test_every_consumed_topic_has_a_dead_letter_topic() -> None:
    for name in ("drafts", "scored", "needs-review", "decisions"):
        assert dlq_of(name) in TOPICS
    with pytest.raises(KeyError):
        dlq_of("auto-approved")


def test_topic_names_take_the_prefix_and_unknown_names_fail() -> None:
    assert topic("drafts", "prod.") == "prod.drafts"
    assert topic("scored.dlq") == "scored.dlq"
    with pytest.raises(KeyError, match="unknown topic"):
        topic("draft")


def test_event_types_are_unique_and_versioned() -> None:
    types = {event_type_of(model) for model in EVENT_TYPES}
    assert len(types) == len(EVENT_TYPES)
    assert event_type_of(Draft) == "io.hitlgate.draft.v1"


def test_compacted_topics_are_keyed_and_compacted() -> None:
    assert TOPICS["router-thresholds"].config()["cleanup.policy"] == "compact"
    assert TOPICS["drafts"].config()["cleanup.policy"] == "delete"
