"""Consumer lag per partition, from the consumer's own state: no broker round trip.

The end offset is librdkafka's cached high watermark, refreshed by every fetch response (the
consumer keeps fetching while idle), and the position is the next offset the application will
be given. Both are local reads, so the lag can be exported after every batch; it is throttled
anyway because a stage with a short batch timeout loops many times a second when idle.

With read_committed the high watermark also counts the records of transactions still open
(readable once committed), so a partition fed by transactions shows up to a batch in flight;
at rest it reads 0, since the position moves past commit markers (checked against the broker).

The local view has a blind spot: a partition the consumer has not fetched from since it was
assigned has no position (and no cached end), so it counted as nothing waiting, and a consumer
that never fetched after a broker restart (confluentinc/librdkafka#5153 describes one) looked
idle and healthy while its input piled up. So when polls come back empty, at most every
`verify_interval` seconds (at once after a new assignment), such partitions are checked with
the broker: records waiting = end offset minus the group's committed offset (or the log start
when nothing is committed). A healthy consumer's first fetch gives it a position past the
last commit marker, so these are checked only while it has not fetched; if the broker does not
answer, `waiting` is None: not known to be idle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaException, TopicPartition

from hitl_runtime.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)


class LagSource(Protocol):
    """The part of confluent_kafka.Consumer the lag is read from."""

    def assignment(self) -> list[TopicPartition]: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]: ...

    def committed(
        self, partitions: list[TopicPartition], timeout: float = -1
    ) -> list[TopicPartition]: ...


def partition_lag(end_offset: int, position: int) -> int | None:
    """Records between the position and the end of the partition; None while either is unknown
    (librdkafka reports unknown offsets as negative sentinels, e.g. OFFSET_INVALID = -1001)."""
    if end_offset < 0 or position < 0:
        return None
    return max(0, end_offset - position)


def unfetched_waiting(committed: int, low: int, end: int) -> int:
    """Records waiting on a partition the consumer has not fetched from: from the group's
    committed offset, or from the log start when nothing is committed (a negative sentinel;
    auto.offset.reset is earliest), to the end. Unknown ends (negative) wait nothing."""
    if end < 0:
        return 0
    start = committed if committed >= 0 else low
    return max(0, end - max(start, low, 0))


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
        verify_interval: float = 10.0,
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
        self._verify_interval = verify_interval
        self._next_verify = 0.0
        self._verified_for: frozenset[tuple[str, int]] = frozenset()
        # From the last broker check: records waiting on partitions with no position yet
        # (None: the broker did not answer), and those partitions' (committed, log start, end).
        self._unfetched: int | None = 0
        self._unfetched_seen: dict[tuple[str, int], tuple[int, int, int]] = {}
        self._unanswered = False
        self._idle_warned = False

    def _registered(self, broker_topic: str) -> str:
        # The same topic label as hitl_messages_consumed_total: the registry name, no prefix.
        if self._prefix and broker_topic.startswith(self._prefix):
            return broker_topic[len(self._prefix) :]
        return broker_topic

    def update(self, consumer: LagSource, *, force: bool = False, idle: bool = False) -> None:
        """`idle`: the last poll returned nothing, so partitions not fetched yet are checked
        with the broker when due (a round trip, at most every `verify_interval` seconds)."""
        now = self._clock()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        try:
            assigned = consumer.assignment()
            positions = consumer.position(assigned) if assigned else []
            lags: dict[tuple[str, int], int] = {}
            unfetched: list[TopicPartition] = []
            for tp in positions:
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                lag = partition_lag(high, tp.offset)
                if lag is not None:
                    lags[(self._registered(tp.topic), tp.partition)] = lag
                elif tp.offset < 0:
                    unfetched.append(TopicPartition(tp.topic, tp.partition))
        except KafkaException:
            return  # mid-rebalance or closing: keep the last values, try again next time
        held = frozenset((tp.topic, tp.partition) for tp in positions)
        if not unfetched:
            self._unfetched, self._unfetched_seen = 0, {}
        elif idle and (now >= self._next_verify or held != self._verified_for):
            self._next_verify, self._verified_for = now + self._verify_interval, held
            self._unfetched = self._verify(consumer, unfetched)
        for (name, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.service, name, str(partition)).set(lag)
        for name, partition in self._reported - lags.keys():
            CONSUMER_LAG.remove(self.service, name, str(partition))
        self._reported = set(lags)
        self.waiting = None if self._unfetched is None else sum(lags.values()) + self._unfetched

    def _verify(self, consumer: LagSource, partitions: list[TopicPartition]) -> int | None:
        """Records waiting on partitions not fetched from yet, asked of the broker; None if
        it did not answer. Warns (once per episode) when the records a check saw waiting are
        still unread at the next one: the consumer is idle while its input is not."""
        try:
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in consumer.committed(partitions, timeout=5)}  # fmt: skip
            seen: dict[tuple[str, int], tuple[int, int, int]] = {}
            for tp in partitions:
                key = (tp.topic, tp.partition)
                low, end = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
                seen[key] = (committed.get(key, -1), low, end)
        except KafkaException as exc:
            if not self._unanswered:
                log.warning(
                    "could not ask the broker what waits for this consumer",
                    extra={"fields": {"service": self.service, "reason": str(exc)[:300]}},
                )
                self._unanswered = True
            return None
        self._unanswered = False
        waiting = {key: unfetched_waiting(*offsets) for key, offsets in seen.items()}
        still = sorted(f"{self._registered(t)}[{p}]" for (t, p), n in waiting.items()
                       if n > 0 and self._unfetched_seen.get((t, p)) == seen[(t, p)])  # fmt: skip
        if still and not self._idle_warned:
            log.warning(
                "consumer idle while records wait on the broker",
                extra={"fields": {"service": self.service, "partitions": still,
                                  "records": sum(waiting.values())}},
            )  # fmt: skip
            self._idle_warned = True
        elif not any(waiting.values()):
            self._idle_warned = False
        self._unfetched_seen = seen
        return sum(waiting.values())

    def clear(self) -> None:
        """Stop reporting (the consumer is closing): its partitions are someone else's now."""
        for name, partition in self._reported:
            CONSUMER_LAG.remove(self.service, name, str(partition))
        self._reported = set()
