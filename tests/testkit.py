"""Helpers for tests: waiting on conditions with a deadline, reading topics, draft factories."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from confluent_kafka import Consumer, Message

from hitl_runtime.follow import at_end
from hitl_schemas import Draft, DraftContext, ProducerInfo, SourceDocument, examples

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
# The unit tests' own policy (tests/policy.yaml); the shipped policy/default.yaml is for
# integration tests and benches only, so tuning it never breaks a unit test.
POLICY_FILE = Path(__file__).resolve().parent / "policy.yaml"


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Return the first truthy value of `condition()`, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def consume(consumer: Consumer, count: int, *, timeout: float = 30.0) -> list[Message]:
    """Read exactly `count` records (errors fail the test), or fail after `timeout` seconds."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout}s with {len(got)}/{count} records")
        for msg in consumer.consume(num_messages=count - len(got), timeout=min(left, 1.0)):
            err = msg.error()
            if err is not None:
                raise AssertionError(f"consumer error: {err}")
            got.append(msg)
    return got


def make_draft(
    text: str,
    *,
    sources: list[str] | None = None,
    customer: str | None = None,
    **overrides: Any,
) -> Draft:
    """A valid draft with this text and material; other fields from the contract's example."""
    context = DraftContext(
        prompt="Reply to the customer.",
        customer_message=customer,
        sources=[SourceDocument(source_id=f"s{i}", text=t) for i, t in enumerate(sources or [])],
    )
    fields: dict[str, Any] = {
        "text": text,
        "context": context,
        "producer": ProducerInfo(app="test", model="m"),
    }
    fields.update(overrides)
    return examples.draft(**fields)


def read_to_end(
    bootstrap: str,
    topic_name: str,
    *,
    at_least: int = 0,
    timeout: float = 60.0,
    until_end: bool = True,
) -> list[Message]:
    """Every committed record of a topic (read_committed), once at least `at_least` are there and
    (with `until_end`) the reader has reached the end of every partition."""
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic_name, timeout=10).topics[topic_name]
        partitions = [TopicPartition(topic_name, p, OFFSET_BEGINNING) for p in meta.partitions]
        consumer.assign(partitions)
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        while True:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    got.append(msg)
            if len(got) >= at_least and (not until_end or at_end(consumer, partitions)):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s reading {topic_name}: {len(got)}/{at_least}"
                )
    finally:
        consumer.close()


def group_consumed_all(bootstrap: str, group_id: str, topic_name: str) -> bool:
    """Has consumer group `group_id` committed offsets to the end of every partition of the
    topic? (For waiting until a stage has handled everything sent to it.)"""
    from confluent_kafka import TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    try:
        meta = consumer.list_topics(topic_name, timeout=10).topics[topic_name]
        partitions = [TopicPartition(topic_name, p) for p in meta.partitions]
        for tp in consumer.committed(partitions, timeout=10):
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


def trusting_policy(directory: Path) -> Path:
    """The shipped policy with `cold_start: default_threshold` for every type that is not high
    risk: each auto-approves above its default threshold from the first draft (a stated risk
    the shipped policy does not take), for tests of routing rather than of certification."""
    data = yaml.safe_load((ROOT / "policy" / "default.yaml").read_text())
    for content_type in data["content_types"].values():
        content_type["cold_start"] = "default_threshold"
    path = directory / "policy-on-trust.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
