"""The simulator against a running pipeline: publish drafts at a rate, watch what comes out.

`publish` paces the scenario's drafts onto `drafts` and keeps each one's truth; `watch` reads
`auto-approved` and `needs-review` (read_committed) and tallies routes, true escapes (defective
drafts that were auto-approved) and the latency from a draft's `created_at` to its routed record.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaError

from hitl_runtime.kafka import EventPublisher, make_consumer
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import RoutedDraft, topic
from hitl_sim.scenario import Scenario
from hitl_sim.world import Truth, stream

log = logging.getLogger(__name__)


@dataclass
class Tally:
    sent: int = 0
    routed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, route)
    escapes: Counter[str] = field(default_factory=Counter)  # per type: defective auto-approved
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=5000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def routed_total(self) -> int:
        with self.lock:
            return sum(self.routed.values())


def publish(
    scenario: Scenario,
    publisher: EventPublisher,
    truths: dict[str, Truth],
    tally: Tally,
    stop: threading.Event,
    *,
    rate: float,
    run_id: str,
    count: int | None = None,
    flush_timeout: float = 30.0,
) -> None:
    interval = 1.0 / rate
    next_at = time.monotonic()
    for sim in stream(scenario, run_id=run_id, clock=True, count=count):
        if stop.is_set():
            break
        truths[sim.draft.draft_id] = sim.truth
        publisher.publish("drafts", sim.draft.draft_id, sim.draft)
        with tally.lock:
            tally.sent += 1
        next_at += interval
        # Pacing, not synchronisation: hold the offered rate; wake early if asked to stop.
        if (pause := next_at - time.monotonic()) > 0:
            stop.wait(pause)
    publisher.flush(flush_timeout)


def watch(
    settings: ServiceSettings,
    truths: dict[str, Truth],
    tally: Tally,
    stop: threading.Event,
) -> None:
    consumer = make_consumer(
        settings, group_id=f"{settings.topic_prefix}sim-watch-{uuid.uuid4().hex[:6]}"
    )
    consumer.subscribe(
        [
            topic("auto-approved", settings.topic_prefix),
            topic("needs-review", settings.topic_prefix),
        ]
    )
    try:
        while not stop.is_set():
            for msg in consumer.consume(500, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("watch: %s", error.str())
                    continue
                try:
                    routed = decode(RoutedDraft, msg.value())
                except EventValidationError:
                    continue  # not ours to judge: the router's DLQ handles bad input
                _count(routed, truths, tally)
    finally:
        consumer.close()


def _count(routed: RoutedDraft, truths: dict[str, Truth], tally: Tally) -> None:
    draft = routed.draft
    latency = (datetime.now(UTC) - draft.created_at).total_seconds() * 1000
    truth = truths.get(draft.draft_id)
    with tally.lock:
        tally.routed[(draft.content_type, routed.route)] += 1
        tally.latencies_ms.append(latency)
        if routed.route == "auto_approved" and truth is not None and truth.is_defect:
            tally.escapes[draft.content_type] += 1
