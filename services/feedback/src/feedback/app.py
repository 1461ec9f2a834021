"""The feedback service: one FeedbackExample per final decision, exactly once (read_committed).

`decisions` -> `retraining-feedback` in Kafka transactions (the shared TransactionalLoop), with
the decision's topic, partition and offset as lineage; bad records go to `decisions.dlq`.
Decisions with no human verdict (SLA fallbacks) are not training data and are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, Producer
from prometheus_client import Counter

from feedback.config import FeedbackSettings
from feedback.examples import to_example
from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter
from hitl_runtime.kafka import EventPublisher, make_producer, make_stage_consumer
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.txn import TransactionalLoop
from hitl_schemas import Decision, Lineage, topic

EXAMPLES = Counter(
    "hitl_feedback_examples_total",
    "FeedbackExamples emitted, by content type and verdict.",
    ["content_type", "verdict"],
)


@dataclass
class FeedbackService:
    settings: FeedbackSettings
    policy: Policy
    consumer: Consumer
    producer: Producer
    publisher: EventPublisher
    dead_letters: DeadLetterPublisher

    def run(self, stop: threading.Event) -> None:
        TransactionalLoop(
            consumer=self.consumer,
            producer=self.producer,
            topics=[topic("decisions", self.settings.topic_prefix)],
            handle=self.handle,
            batch_size=self.settings.batch_size,
            batch_timeout=0.1,
            service=self.settings.service_name,
            stage="feedback",
            on_commit=self.publisher.drain_failures,
        ).run(stop)

    def handle(self, records: Sequence[Message]) -> None:
        now = datetime.now(UTC)
        for msg in records:
            decision = decode_or_dead_letter(
                msg, Decision, limits=self.settings.limits, dead_letters=self.dead_letters
            )
            if decision is None or decision.fallback_applied:
                continue
            lineage = Lineage(
                topic=self.dead_letters.registered_name(msg.topic() or ""),
                partition=msg.partition() or 0,
                offset=msg.offset() or 0,
            )
            example = to_example(
                decision, lineage, self.policy.for_type(decision.content_type), now
            )
            self.publisher.publish("retraining-feedback", decision.draft_id, example)
            EXAMPLES.labels(decision.content_type, decision.verdict).inc()


def bootstrap(settings: FeedbackSettings, *, policy: Policy | None = None) -> FeedbackService:
    producer = make_producer(settings, transactional_id=settings.effective_instance_id)
    consumer = make_stage_consumer(
        settings, group_id=settings.group_id, instance_id=settings.effective_instance_id
    )
    publisher = EventPublisher(producer, settings)
    dead_letters = DeadLetterPublisher(
        publisher, service=settings.service_name, topic_prefix=settings.topic_prefix
    )
    return FeedbackService(
        settings=settings,
        policy=policy or load_policy(settings.policy_file),
        consumer=consumer,
        producer=producer,
        publisher=publisher,
        dead_letters=dead_letters,
    )
