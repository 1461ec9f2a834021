"""The feedback service: one FeedbackExample per final decision, exactly once (read_committed).

`decisions` -> `retraining-feedback` in Kafka transactions (the shared TransactionalLoop), with
the decision's topic, partition and offset as lineage; bad records go to `decisions.dlq`.
Decisions with no human verdict (SLA fallbacks) are not training data and are skipped.
A draft's final decision becomes one example: a decision re-sent by review-api's at-least-once
relay is dropped by its draft id, also when this replica restarted between the two copies (the
memory starts from the examples already committed on `retraining-feedback`, keyed by draft).
Committed examples are counted for the automatic retraining trigger (`feedback.trigger`), which
starts each run from its own thread and has it read and fit in a child process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from confluent_kafka import Consumer, KafkaException, Message, Producer

from feedback.config import FeedbackSettings
from feedback.examples import to_example
from feedback.metrics import EXAMPLES, observe_serving
from feedback.retraining import run_once, serving_model, targets_of
from feedback.safety import safety_bounds
from feedback.trigger import RetrainWorker
from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter, publish_or_dead_letter
from hitl_runtime.kafka import EventPublisher, make_producer, make_stage_consumer
from hitl_runtime.metrics import DUPLICATES_DROPPED, content_type_label
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.recent import RecentIds
from hitl_runtime.signing import Verifier, signer_for, verifier_for
from hitl_runtime.tail import committed_tail
from hitl_runtime.txn import TransactionalLoop
from hitl_schemas import Decision, Lineage, topic

log = logging.getLogger(__name__)

STOP_TRAINING_WAIT = 5.0  # seconds a stopping service gives a retraining run in progress
# Examples per partition read back at start for the duplicate memory. Re-sends are the last
# relay batch of a restarted review-api replica (at most 500 decisions), so their originals
# are among the newest examples; this covers them with a wide margin and reads in seconds.
REMEMBER_TAIL = 5_000
REMEMBER_TIMEOUT = 30.0  # seconds; past it the service starts with what it has read


@dataclass
class FeedbackService:
    settings: FeedbackSettings
    policy: Policy
    consumer: Consumer
    producer: Producer
    publisher: EventPublisher
    dead_letters: DeadLetterPublisher
    # Only review-api may write decisions: forged ones must not become training data.
    verifier: Verifier
    retrainer: RetrainWorker | None = None
    # Examples of the batch in its transaction; counted for the trigger once it is committed.
    _batch_examples: int = field(default=0, init=False)
    # Drafts already turned into examples, and those of the batch in flight (remembered only
    # once committed: an aborted batch is handled again and must not skip its own drafts).
    recent: RecentIds = field(default_factory=RecentIds)
    _batch_ids: set[str] = field(default_factory=set, init=False)

    def run(self, stop: threading.Event) -> None:
        if self.retrainer is not None:
            self.retrainer.start()
        try:
            self._consume(stop)
        finally:
            if self.retrainer is not None:
                self.retrainer.stop(STOP_TRAINING_WAIT)

    def _consume(self, stop: threading.Event) -> None:
        TransactionalLoop(
            consumer=self.consumer,
            producer=self.producer,
            topics=[topic("decisions", self.settings.topic_prefix)],
            handle=self.handle,
            batch_size=self.settings.batch_size,
            batch_timeout=0.1,
            service=self.settings.service_name,
            stage="feedback",
            on_commit=self._committed,
            on_start=self.remember_committed,
            topic_prefix=self.settings.topic_prefix,
        ).run(stop)

    def remember_committed(self) -> None:
        """Start the duplicate memory from the examples committed before this process began."""
        name = topic("retraining-feedback", self.settings.topic_prefix)
        read = 0
        try:
            for msg in committed_tail(
                self.settings, name, tail=REMEMBER_TAIL, timeout=REMEMBER_TIMEOUT
            ):
                key = msg.key()
                if key:
                    self.recent.add(key.decode("utf-8", "replace"))
                    read += 1
        except (KafkaException, TimeoutError) as exc:
            log.warning(
                "duplicate memory only partly restored; a decision re-sent now may train twice",
                extra={"fields": {"examples_read": read, "reason": str(exc)}},
            )
            return
        log.info("duplicate memory restored", extra={"fields": {"examples_read": read}})

    def _committed(self) -> None:
        self.publisher.drain_failures()
        for draft_id in self._batch_ids:
            self.recent.add(draft_id)
        if self.retrainer is not None:
            self.retrainer.add(self._batch_examples)

    def handle(self, records: Sequence[Message]) -> None:
        now = datetime.now(UTC)
        # Assigned, not added to: an aborted batch is handled again from the start.
        self._batch_examples = 0
        self._batch_ids = set[str]()
        for msg in records:
            decision = decode_or_dead_letter(
                msg,
                Decision,
                limits=self.settings.limits,
                dead_letters=self.dead_letters,
                verifier=self.verifier,
            )
            if decision is None or decision.fallback_applied:
                continue
            # Keyed by draft (the example's record key): one final decision per draft, and the
            # key is what the start-up memory can read back without decoding examples.
            if decision.draft_id in self.recent or decision.draft_id in self._batch_ids:
                DUPLICATES_DROPPED.labels(self.settings.service_name, "decisions").inc()
                continue  # a decision re-sent by review-api's at-least-once relay
            self._batch_ids.add(decision.draft_id)
            lineage = Lineage(
                topic=self.dead_letters.registered_name(msg.topic() or ""),
                partition=msg.partition() or 0,
                offset=msg.offset() or 0,
            )
            example = to_example(
                decision, lineage, self.policy.for_type(decision.content_type), now
            )
            published = publish_or_dead_letter(
                msg,
                "retraining-feedback",
                decision.draft_id,
                example,
                publisher=self.publisher,
                dead_letters=self.dead_letters,
            )
            if published is None:
                continue  # dead-lettered: its example cannot be produced within the limit
            self._batch_examples += 1
            known = self.policy.content_types
            EXAMPLES.labels(
                content_type_label(decision.content_type, known), decision.verdict
            ).inc()


def bootstrap(settings: FeedbackSettings, *, policy: Policy | None = None) -> FeedbackService:
    producer = make_producer(
        settings, transactional_id=settings.scoped(settings.effective_instance_id)
    )
    consumer = make_stage_consumer(
        settings,
        group_id=settings.scoped(settings.group_id),
        instance_id=settings.effective_instance_id,
    )
    publisher = EventPublisher(producer, settings)
    dead_letters = DeadLetterPublisher(
        publisher, service=settings.service_name, topic_prefix=settings.topic_prefix
    )
    policy = policy or load_policy(settings.policy_file)
    return FeedbackService(
        settings=settings,
        policy=policy,
        consumer=consumer,
        producer=producer,
        publisher=publisher,
        dead_letters=dead_letters,
        verifier=verifier_for(settings, "decisions"),
        retrainer=retrain_worker(settings, policy) if settings.retrain_enabled else None,
    )


def retrain_worker(settings: FeedbackSettings, policy: Policy) -> RetrainWorker:
    # Models go out through a producer of their own: the loop's producer is transactional and
    # belongs to the consume thread.
    models = EventPublisher(make_producer(settings), settings, signer=signer_for(settings))
    run = partial(
        run_once,
        settings,
        targets_of(policy),
        bounds=safety_bounds(policy),
        window=settings.retrain_window_examples,
        min_examples=settings.retrain_min_examples,
        publisher=models,
        isolated=True,  # each run reads and fits in a child process: its memory goes with it
    )
    return RetrainWorker(
        run,
        every_examples=settings.retrain_every_examples,
        every_seconds=settings.retrain_every_seconds,
        prime=lambda: observe_serving(serving_model(settings)[1]),
    )
