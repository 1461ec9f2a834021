"""Counting committed records on a topic, for benchmarks."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer


def count_committed(bootstrap: str, topic_name: str, expected: int, *, timeout: float) -> int:
    """Block until `expected` committed records were read from `topic_name`, or raise."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic_name])
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{seen}/{expected} records on {topic_name} after {timeout}s")
            seen += sum(1 for m in consumer.consume(5000, 0.5) if m.error() is None)
        return seen
    finally:
        consumer.close()
