"""Follow a compacted topic from its beginning: the latest value per key, kept current.

Used for state that every replica needs in full: the scorer's model versions, the router's
serving thresholds. `caught_up` is set once the follower has read to the end of the topic as it
stood, so a service can wait for the newest state before it starts work.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from hitl_runtime.kafka import make_consumer
from hitl_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


class CompactedFollower(threading.Thread):
    def __init__(
        self,
        settings: ServiceSettings,
        topic_name: str,
        on_record: Callable[[Message], None],
        *,
        name: str = "follower",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._topic = topic_name
        self._on_record = on_record
        self._stop_event = threading.Event()
        self.caught_up = threading.Event()
        # A throwaway group id: followers assign partitions themselves and never commit.
        self._consumer: Consumer = make_consumer(
            settings, group_id=f"{settings.service_name}-{name}-{uuid.uuid4().hex[:8]}"
        )

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            partitions = self._partitions()
            if partitions is None:
                return
            self._consumer.assign(
                [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions]
            )
            while not self._stop_event.is_set():
                msg = self._consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    try:
                        self._on_record(msg)
                    except Exception:
                        log.exception("follower could not apply a record; skipped")
                if not self.caught_up.is_set() and self._at_end(partitions):
                    self.caught_up.set()
        except Exception:
            log.exception("follower stopped; the last state read stays in use")
            self.caught_up.set()
        finally:
            self._consumer.close()

    def _partitions(self) -> list[int] | None:
        """The topic's partitions, asked until the broker answers: a replica (re)started during
        a broker outage must still follow the topic once the broker is back. None if stopped."""
        warned = False
        while not self._stop_event.is_set():
            try:
                metadata = self._consumer.list_topics(self._topic, timeout=10)
                topic_meta = metadata.topics[self._topic]
                if topic_meta.error is None and topic_meta.partitions:
                    return list(topic_meta.partitions)
                reason = str(topic_meta.error)
            except KafkaException as exc:
                reason = str(exc.args[0])
            if not warned:
                log.warning(
                    "follower waits for the topic's metadata; retrying",
                    extra={"fields": {"topic": self._topic, "reason": reason}},
                )
                warned = True
            self._stop_event.wait(1.0)  # retry pacing, ends at once on stop
        return None

    def _at_end(self, partitions: list[int]) -> bool:
        return at_end(self._consumer, [TopicPartition(self._topic, p) for p in partitions])


def at_end(consumer: Consumer, partitions: list[TopicPartition]) -> bool:
    """Has the consumer read every partition to its current end? (Position at the high
    watermark; a read_committed reader gets there once the last transaction is closed.)"""
    for tp in consumer.position(partitions):
        _, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
        if high > 0 and tp.offset < high:
            return False
    return True
