"""Helpers for tests: waiting on conditions with a deadline, reading topics to a count."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Consumer, Message

T = TypeVar("T")


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
                if err.code() == err._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {err}")
            got.append(msg)
    return got
