"""Read a topic's committed records as it stood when the read began, whole or its last offsets.

For what a service must know of its own past output: feedback's dataset export and retraining
window, and the drafts it has already turned into examples (its duplicate memory after a
restart). The bounds are taken once, at the start: records written after that are not waited
for, so a busy topic's read still ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition

from hitl_runtime.kafka import make_consumer
from hitl_runtime.settings import ServiceSettings

BATCH = 5_000


@dataclass(frozen=True)
class Snapshot:
    """Per partition, the offsets [start, end) to read."""

    topic: str
    bounds: dict[int, tuple[int, int]]

    @property
    def total(self) -> int:
        return sum(end - start for start, end in self.bounds.values())


def snapshot(
    consumer: Consumer, name: str, *, tail: int | None = None, timeout: float = 10.0
) -> Snapshot:
    """The topic's partitions to their high watermarks now; with `tail`, only the last `tail`
    offsets of each (a superset of its newest `tail` records, less the few offsets that
    transaction markers take)."""
    partitions = list(consumer.list_topics(name, timeout=timeout).topics[name].partitions)
    bounds: dict[int, tuple[int, int]] = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
        start = low if tail is None else max(low, high - tail)
        if high > start:
            bounds[p] = (start, high)
    return Snapshot(name, bounds)


def records(
    consumer: Consumer, snap: Snapshot, *, deadline: float | None = None
) -> Iterator[Message]:
    """The committed records inside the snapshot, in order per partition. A read_committed
    consumer reaches a partition's end once the transactions open at the start are closed;
    past `deadline` (time.monotonic) it raises TimeoutError instead of waiting longer."""
    remaining = set(snap.bounds)
    consumer.assign([TopicPartition(snap.topic, p, snap.bounds[p][0]) for p in remaining])
    while remaining:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{snap.topic}: {len(remaining)} partitions not read to the end")
        for msg in consumer.consume(BATCH, 1.0):
            partition = msg.partition() or 0
            if msg.error() is None and (msg.offset() or 0) < snap.bounds[partition][1]:
                yield msg
        positions = consumer.position([TopicPartition(snap.topic, p) for p in remaining])
        remaining -= {tp.partition for tp in positions if tp.offset >= snap.bounds[tp.partition][1]}


def committed_tail(
    settings: ServiceSettings, name: str, *, tail: int, timeout: float
) -> Iterator[Message]:
    """The last `tail` offsets of each partition of `name`, read within `timeout` seconds, by a
    consumer of its own (assigned, in a throwaway group that never commits)."""
    deadline = time.monotonic() + timeout
    consumer = make_consumer(
        settings, group_id=f"{settings.service_name}-tail-{uuid.uuid4().hex[:8]}"
    )
    try:
        snap = snapshot(consumer, name, tail=tail, timeout=max(1.0, timeout / 3))
        yield from records(consumer, snap, deadline=deadline)
    finally:
        consumer.close()
