"""Consumer lag from the consumer's own state: the arithmetic and the gauge's bookkeeping."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from hitl_runtime.lag import LagReporter, partition_lag, unfetched_waiting


class FakeConsumer:
    """What LagReporter reads from a confluent_kafka.Consumer: assignment, positions and the
    cached high watermarks."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}
        self.highs: dict[tuple[str, int], int] = {}
        self.fail = False
        # The broker's side, for partitions not fetched yet: committed offsets, (low, end).
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.broker: dict[tuple[str, int], tuple[int, int]] = {}
        self.broker_down = False
        self.broker_calls = 0

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
        key = (partition.topic, partition.partition)
        if cached:
            return 0, self.highs.get(key, OFFSET_INVALID)
        assert self.positions[key] < 0, "only a partition not fetched yet is asked of the broker"
        self._answer()
        return self.broker[key]

    def committed(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]:
        self._answer()
        return [
            TopicPartition(tp.topic, tp.partition,
                           self.committed_offsets.get((tp.topic, tp.partition), OFFSET_INVALID))
            for tp in partitions
        ]  # fmt: skip

    def _answer(self) -> None:
        self.broker_calls += 1
        if self.broker_down:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "broker away"))


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


@pytest.mark.parametrize(
    ("committed", "low", "end", "waiting"),
    [
        (40, 0, 50, 10),  # committed, not fetched: 10 records wait
        (50, 0, 50, 0),  # caught up
        (OFFSET_INVALID, 0, 30, 30),  # nothing committed: from the log start (earliest)
        (OFFSET_INVALID, 20, 30, 10),
        (5, 20, 30, 10),  # committed offset below a truncated log start
        (40, 0, OFFSET_INVALID, 0),  # the broker does not know the end: nothing known to wait
    ],
)
def test_unfetched_waiting(committed: int, low: int, end: int, waiting: int) -> None:
    assert unfetched_waiting(committed, low, end) == waiting


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def unfetched_consumer() -> FakeConsumer:
    """Partition 0 consumed and caught up; partition 1 assigned but never fetched from."""
    consumer = FakeConsumer()
    consumer.positions = {("drafts", 0): 10, ("drafts", 1): OFFSET_INVALID}
    consumer.highs = {("drafts", 0): 10}
    consumer.committed_offsets = {("drafts", 1): 40}
    consumer.broker = {("drafts", 1): (0, 50)}
    return consumer


def test_a_partition_never_fetched_from_is_not_counted_as_idle() -> None:
    """The blind spot: before, partition 1 counted as 0 waiting and the stage as idle."""
    consumer, clock = unfetched_consumer(), Clock()
    reporter = LagReporter(f"svc-{uuid.uuid4().hex[:6]}", interval=0, clock=clock)
    reporter.update(consumer, idle=True)
    assert reporter.waiting == 10
    consumer.committed_offsets[("drafts", 1)] = 50  # what waited was read and committed
    clock.now += 11
    reporter.update(consumer, idle=True)
    assert reporter.waiting == 0


def test_the_broker_is_asked_only_when_idle_and_at_most_every_interval() -> None:
    consumer, clock = unfetched_consumer(), Clock()
    reporter = LagReporter(f"svc-{uuid.uuid4().hex[:6]}", interval=0, verify_interval=10,
                           clock=clock)  # fmt: skip
    reporter.update(consumer)  # a batch came: no broker round trip
    assert consumer.broker_calls == 0
    reporter.update(consumer, idle=True)
    calls = consumer.broker_calls
    assert calls > 0
    clock.now += 5
    reporter.update(consumer, idle=True)
    assert consumer.broker_calls == calls and reporter.waiting == 10  # the last answer holds
    consumer.positions[("drafts", 2)] = OFFSET_INVALID  # a new assignment: asked at once
    consumer.broker[("drafts", 2)] = (0, 0)
    reporter.update(consumer, idle=True)
    assert consumer.broker_calls > calls


def test_a_broker_that_does_not_answer_means_not_known_to_be_idle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, clock = unfetched_consumer(), Clock()
    consumer.broker_down = True
    reporter = LagReporter(f"svc-{uuid.uuid4().hex[:6]}", interval=0, clock=clock)
    for _ in range(3):
        reporter.update(consumer, idle=True)
        clock.now += 11
    assert reporter.waiting is None
    assert caplog.text.count("could not ask the broker") == 1  # once per episode


def test_records_still_unread_at_the_next_check_are_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, clock = unfetched_consumer(), Clock()
    reporter = LagReporter(f"svc-{uuid.uuid4().hex[:6]}", interval=0, clock=clock)
    reporter.update(consumer, idle=True)
    assert "consumer idle while records wait" not in caplog.text  # might be read any moment
    for _ in range(3):
        clock.now += 11
        reporter.update(consumer, idle=True)
    assert caplog.text.count("consumer idle while records wait on the broker") == 1
    [warning] = [r for r in caplog.records if "idle while" in r.getMessage()]
    assert warning.fields["partitions"] == ["drafts[1]"]  # type: ignore[attr-defined]


def test_fetched_partitions_need_no_broker_check() -> None:
    consumer = FakeConsumer()
    consumer.positions = {("drafts", 0): 10}
    consumer.highs = {("drafts", 0): 10}
    reporter = LagReporter(f"svc-{uuid.uuid4().hex[:6]}", interval=0)
    reporter.update(consumer, idle=True)
    assert reporter.waiting == 0 and consumer.broker_calls == 0
