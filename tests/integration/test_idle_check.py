"""The stage's idle verdict against a real broker: a consumer holding a partition it does not
fetch from (paused here, standing in for one that never fetched after a broker restart) is not
idle while records wait, and is once it has read them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from hitl_runtime.kafka import make_consumer
from hitl_runtime.lag import LagReporter
from hitl_runtime.settings import ServiceSettings
from testkit import wait_for

pytestmark = pytest.mark.integration


def test_a_consumer_that_does_not_fetch_is_not_idle_while_records_wait(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
) -> None:
    name = f"{topics}drafts"
    paused: list[TopicPartition] = []

    def hold(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Assigned here (else the client assigns after this callback, which clears a pause),
        # then paused before any fetch: no position, nothing cached.
        consumer.incremental_assign(partitions)  # cooperative-sticky, as every consumer here
        consumer.pause(partitions)
        paused.extend(partitions)

    consumer = make_consumer(settings, group_id=f"g-{uuid.uuid4().hex[:8]}")
    try:
        check(consumer, name, hold, paused, producer_factory())
    finally:
        consumer.close()


def check(
    consumer: Consumer,
    name: str,
    hold: Callable[[Consumer, list[TopicPartition]], None],
    paused: list[TopicPartition],
    producer: Producer,
) -> None:
    consumer.subscribe([name], on_assign=hold)
    reporter = LagReporter("idle-check", interval=0, verify_interval=0)

    def assigned() -> bool:
        assert consumer.poll(0.2) is None  # the topic is empty until the partition is paused
        return bool(paused)

    wait_for(assigned, timeout=60, interval=0.1, what="the partition assigned and paused")
    reporter.update(consumer, idle=True)
    assert reporter.waiting == 0, "nothing waits yet"
    for i in range(7):  # written while the consumer holds the partition and does not fetch
        producer.produce(name, key=f"k{i}".encode(), value=b"{}")
    producer.flush(30)
    consumer.poll(0.2)
    reporter.update(consumer, idle=True)
    assert reporter.waiting == 7, "the unfetched partition's records must count as waiting"

    consumer.resume(paused)
    read = 0

    def drained() -> bool:
        nonlocal read
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            read += 1
            consumer.commit(msg, asynchronous=False)
        reporter.update(consumer, idle=msg is None)
        return read == 7 and reporter.waiting == 0

    wait_for(drained, timeout=60, interval=0.1, what="all 7 read and nothing waiting")
