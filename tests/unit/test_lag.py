"""Consumer lag from the consumer's own state: the arithmetic and the gauge's bookkeeping."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from hitl_runtime.lag import LagReporter, partition_lag


class FakeConsumer:
    """What LagReporter reads from a confluent_kafka.Consumer: assignment, positions and the
    cached high watermarks."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}
        self.highs: dict[tuple[str, int], int] = {}
        self.fail = False

    def assignment(self) -> list[TopicPartition]:
        if self.fail:
            raise KafkaException(KafkaError(KafkaError._STATE, "closed"))
        return [TopicPartition(t, p) for t, p in self.positions]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.positions[(tp.topic, tp.partition)])
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]:
        assert cached, "lag must come from the cache, never a broker round trip"
        return 0, self.highs.get((partition.topic, partition.partition), OFFSET_INVALID)


def lag_of(service: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "hitl_consumer_lag_records",
        {"service": service, "topic": topic, "partition": str(partition)},
    )


@pytest.mark.parametrize(
    ("end", "position", "lag"),
    [
        (100, 90, 10),
        (100, 100, 0),
        (0, 0, 0),
        (95, 100, 0),  # the cached end is older than the position: not negative
        (OFFSET_INVALID, 5, None),  # no fetch response yet
        (100, OFFSET_INVALID, None),  # nothing consumed from the partition yet
    ],
)
def test_partition_lag(end: int, position: int, lag: int | None) -> None:
    assert partition_lag(end, position) == lag


def test_reports_assigned_partitions_under_their_registry_name() -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    consumer = FakeConsumer()
    consumer.positions = {("p.drafts", 0): 90, ("p.drafts", 1): OFFSET_INVALID}
    consumer.highs = {("p.drafts", 0): 100, ("p.drafts", 1): 50}
    LagReporter(service, topic_prefix="p.").update(consumer)
    assert lag_of(service, "drafts", 0) == 10
    assert lag_of(service, "drafts", 1) is None  # unknown, not guessed


def test_a_revoked_partition_leaves_the_gauge_and_clear_removes_the_rest() -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    consumer = FakeConsumer()
    consumer.positions = {("scored", 0): 5, ("scored", 1): 7}
    consumer.highs = {("scored", 0): 5, ("scored", 1): 9}
    reporter = LagReporter(service, interval=0)
    reporter.update(consumer)
    assert (lag_of(service, "scored", 0), lag_of(service, "scored", 1)) == (0, 2)
    del consumer.positions[("scored", 0)]  # a rebalance gave partition 0 to another replica
    consumer.highs[("scored", 1)] = 20
    reporter.update(consumer)
    assert (lag_of(service, "scored", 0), lag_of(service, "scored", 1)) == (None, 13)
    reporter.clear()
    assert lag_of(service, "scored", 1) is None


def test_updates_are_throttled_unless_forced() -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    now = [100.0]
    consumer = FakeConsumer()
    consumer.positions = {("drafts", 0): 0}
    consumer.highs = {("drafts", 0): 3}
    reporter = LagReporter(service, interval=1.0, clock=lambda: now[0])
    reporter.update(consumer)
    consumer.highs[("drafts", 0)] = 8
    reporter.update(consumer)  # within the interval: skipped
    assert lag_of(service, "drafts", 0) == 3
    now[0] += 1.0
    reporter.update(consumer)
    assert lag_of(service, "drafts", 0) == 8
    consumer.highs[("drafts", 0)] = 9
    reporter.update(consumer, force=True)
    assert lag_of(service, "drafts", 0) == 9


def test_a_kafka_error_keeps_the_last_values() -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    consumer = FakeConsumer()
    consumer.positions = {("drafts", 0): 1}
    consumer.highs = {("drafts", 0): 4}
    reporter = LagReporter(service, interval=0)
    reporter.update(consumer)
    consumer.fail = True
    reporter.update(consumer)
    assert lag_of(service, "drafts", 0) == 3
