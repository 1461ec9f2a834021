"""Read a run's topics from the beginning, as a read_committed consumer sees them, into a Flow.

Every data topic is keyed by `draft_id`, so the keys are all the audit needs; dead letters are
decoded to map a dead-lettered draft back to its id through the original partition and offset.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from hitl_runtime.follow import at_end
from hitl_runtime.kafka import make_consumer
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import TOPICS, DeadLetter, topic
from hitl_sim.audit import Flow

DATA = ("drafts", "scored", "auto-approved", "needs-review", "decisions", "retraining-feedback")
DLQS = tuple(name for name in TOPICS if name.endswith(".dlq"))


def read_flow(settings: ServiceSettings, *, final: bool, timeout: float = 180.0) -> Flow:
    """`final`: read to the end of every partition (the services are stopped, so no transaction
    is open) or fail after `timeout`; otherwise a progress snapshot: read up to where each
    partition ended when the read began (a live pipeline never stops writing, so its end is
    never reached), or until the reader idles (an open transaction holds it back), and give
    what was read by `timeout`."""
    names = {topic(name, settings.topic_prefix): name for name in (*DATA, *DLQS)}
    consumer = make_consumer(settings, group_id=f"{settings.topic_prefix}audit-{uuid.uuid4().hex}")
    try:
        partitions = _assign_all(consumer, list(names))
        ends = None if final else _high_watermarks(consumer, partitions)
        keys: dict[str, list[str]] = defaultdict(list)
        drafts_at: dict[tuple[int, int], str] = {}
        dead: list[DeadLetter] = []
        decisions: list[tuple[str, str]] = []
        deadline, idle = time.monotonic() + timeout, 0
        while True:
            batch = consumer.consume(1000, 0.5)
            for msg in batch:
                if msg.error() is not None:
                    continue
                name = names[str(msg.topic())]
                if name in DLQS:
                    # Not `decode`: a dead letter may exceed the event size limit, since it
                    # carries the whole bad record.
                    dead.append(DeadLetter.model_validate_json(msg.value() or b"{}"))
                    continue
                draft_id = (msg.key() or b"").decode(errors="replace")
                keys[name].append(draft_id)
                if name == "decisions":
                    decisions.append((draft_id, _event_id(msg.headers())))
                if name == "drafts":
                    drafts_at[(int(msg.partition() or 0), int(msg.offset() or 0))] = draft_id
            idle = 0 if batch else idle + 1
            if ends is not None and (idle >= 3 or _reached(consumer, partitions, ends)):
                break
            if ends is None and not batch and at_end(consumer, partitions):
                break
            if time.monotonic() > deadline:
                if ends is not None:
                    break  # a snapshot still: the caller reads again
                raise TimeoutError(f"could not read the run's topics to their end in {timeout} s")
    finally:
        consumer.close()
    drafts_topic = topic("drafts", settings.topic_prefix)
    dead_drafts = [
        drafts_at.get((d.original_partition, d.original_offset), f"?{d.original_offset}")
        for d in dead
        if d.original_topic == drafts_topic
    ]
    return Flow(
        drafts=keys["drafts"],
        scored=keys["scored"],
        routed=keys["auto-approved"] + keys["needs-review"],
        needs_review=keys["needs-review"],
        decisions=decisions,
        feedback=keys["retraining-feedback"],
        dead_drafts=dead_drafts,
        other_dead_letters=len(dead) - len(dead_drafts),
    )


def _event_id(headers: Iterable[tuple[str, object]] | Mapping[str, object] | None) -> str:
    """The CloudEvents id: for a decision, its decision id (the relay sets it so)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or []
    for name, value in pairs:
        if name == "ce_id" and isinstance(value, bytes):
            return value.decode(errors="replace")
    return ""


def _high_watermarks(
    consumer: Consumer, partitions: list[TopicPartition]
) -> dict[tuple[str, int], int]:
    return {
        (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
        for tp in partitions
    }


def _reached(
    consumer: Consumer, partitions: list[TopicPartition], ends: dict[tuple[str, int], int]
) -> bool:
    """Has every partition been read up to `ends`? (Positions are local: no broker call.)"""
    return all(
        tp.offset >= ends[(tp.topic, tp.partition)] or ends[(tp.topic, tp.partition)] == 0
        for tp in consumer.position(partitions)
    )


def _assign_all(consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
    metadata = consumer.list_topics(timeout=10).topics
    partitions = [
        TopicPartition(name, p, OFFSET_BEGINNING)
        for name in topics
        for p in metadata[name].partitions
    ]
    consumer.assign(partitions)
    return partitions
