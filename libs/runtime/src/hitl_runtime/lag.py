"""Consumer lag per partition, from the consumer's own state: no broker round trip.

The end offset is librdkafka's cached high watermark, refreshed by every fetch response (the
consumer keeps fetching while idle), and the position is the next offset the application will
be given. Both are local reads, so the lag can be exported after every batch; it is throttled
anyway because a stage with a short batch timeout loops many times a second when idle.

With read_committed the high watermark also counts the records of transactions still open
(readable once committed), so a partition fed by transactions shows up to a batch in flight;
at rest it reads 0, since the position moves past commit markers (checked against the broker).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaException, TopicPartition

from hitl_runtime.metrics import CONSUMER_LAG


class LagSource(Protocol):
    """The part of confluent_kafka.Consumer the lag is read from."""

    def assignment(self) -> list[TopicPartition]: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]: ...


def partition_lag(end_offset: int, position: int) -> int | None:
    """Records between the position and the end of the partition; None while either is unknown
    (librdkafka reports unknown offsets as negative sentinels, e.g. OFFSET_INVALID = -1001)."""
    if end_offset < 0 or position < 0:
        return None
    return max(0, end_offset - position)


class LagReporter:
    """Exports `hitl_consumer_lag_records` for the partitions one consumer holds.

    A partition this consumer no longer holds (a rebalance moved it) is removed from the
    gauge, so the replica that took it over is the only one reporting it.
    """

    def __init__(
        self,
        service: str,
        *,
        topic_prefix: str = "",
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._prefix = topic_prefix
        self._interval = interval
        self._clock = clock
        self._next = 0.0
        self._reported: set[tuple[str, int]] = set()
        # Records known to wait on the partitions held, as of the last update (None: not yet
        # read): the stage watchdog counts an idle poll as progress only when this is 0.
        self.waiting: int | None = None

    def _registered(self, broker_topic: str) -> str:
        # The same topic label as hitl_messages_consumed_total: the registry name, no prefix.
        if self._prefix and broker_topic.startswith(self._prefix):
            return broker_topic[len(self._prefix) :]
        return broker_topic

    def update(self, consumer: LagSource, *, force: bool = False) -> None:
        now = self._clock()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        try:
            assigned = consumer.assignment()
            positions = consumer.position(assigned) if assigned else []
            lags: dict[tuple[str, int], int] = {}
            for tp in positions:
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                lag = partition_lag(high, tp.offset)
                if lag is not None:
                    lags[(self._registered(tp.topic), tp.partition)] = lag
        except KafkaException:
            return  # mid-rebalance or closing: keep the last values, try again next time
        for (name, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.service, name, str(partition)).set(lag)
        for name, partition in self._reported - lags.keys():
            CONSUMER_LAG.remove(self.service, name, str(partition))
        self._reported = set(lags)
        self.waiting = sum(lags.values())

    def clear(self) -> None:
        """Stop reporting (the consumer is closing): its partitions are someone else's now."""
        for name, partition in self._reported:
            CONSUMER_LAG.remove(self.service, name, str(partition))
        self._reported = set()
