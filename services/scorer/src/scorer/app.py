"""The scorer service: consume `drafts` in batches, score, produce `scored` exactly once.

Each batch is one Kafka transaction holding the scored drafts, any dead letters and the consumed
offsets, so a read_committed reader sees every draft scored once even if the process is killed
mid-batch: the unfinished transaction is aborted when the replica restarts with the same
transactional id (or times out), and the batch is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, Producer

from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter, publish_or_dead_letter
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.kafka import EventPublisher, make_producer, make_stage_consumer
from hitl_runtime.metrics import END_TO_END_SECONDS, content_type_label
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.txn import TransactionalLoop
from hitl_schemas import Draft, ScoredDraft, topic
from scorer.config import ScorerSettings
from scorer.metrics import DRAFTS_SCORED, SCORING_SECONDS, SIGNAL_FAILURES, SIGNAL_SECONDS
from scorer.model import load_model, prior
from scorer.model_watch import ModelHolder, model_watcher
from scorer.plugins import load_plugins
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier

log = logging.getLogger(__name__)


@dataclass
class ScorerService:
    settings: ScorerSettings
    scorer: Scorer
    models: ModelHolder
    consumer: Consumer
    producer: Producer
    publisher: EventPublisher
    dead_letters: DeadLetterPublisher
    watcher: CompactedFollower | None = None

    def run(self, stop: threading.Event) -> None:
        """Score until `stop` is set; the batch in hand is finished and committed first."""
        if self.watcher is not None:
            self.watcher.start()
            self.watcher.caught_up.wait(self.settings.model_wait_seconds)
        loop = TransactionalLoop(
            consumer=self.consumer,
            producer=self.producer,
            topics=[topic("drafts", self.settings.topic_prefix)],
            handle=self.process,
            batch_size=self.settings.batch_size,
            batch_timeout=self.settings.batch_timeout_ms / 1000,
            service=self.settings.service_name,
            stage="score",
            on_commit=self.publisher.drain_failures,
            topic_prefix=self.settings.topic_prefix,
        )
        log.info("scorer running", extra={"fields": {"model": self.models.current.version}})
        try:
            loop.run(stop)
        finally:
            if self.watcher is not None:
                self.watcher.stop()
            log.info("scorer stopped")

    def process(self, records: Sequence[Message]) -> None:
        """Decode, score and publish one batch (inside the caller's transaction)."""
        started = time.perf_counter()
        drafts: list[Draft] = []
        inputs: list[Message] = []  # each draft's record, to dead-letter if its output cannot go
        for msg in records:
            draft = decode_or_dead_letter(
                msg, Draft, limits=self.settings.limits, dead_letters=self.dead_letters
            )
            if draft is not None:
                drafts.append(draft)
                inputs.append(msg)
        if not drafts:
            return
        model = self.models.current
        scores, stats = self.scorer.score_batch(drafts, model)
        known = self.scorer.policy.content_types
        for msg, draft, score in zip(inputs, drafts, scores, strict=True):
            scored = publish_or_dead_letter(
                msg,
                "scored",
                draft.draft_id,
                ScoredDraft(draft=draft, score=score),
                publisher=self.publisher,
                dead_letters=self.dead_letters,
            )
            if scored is None:
                continue
            DRAFTS_SCORED.labels(content_type=content_type_label(draft.content_type, known)).inc()
        now = datetime.now(UTC)
        for draft in drafts:
            END_TO_END_SECONDS.labels(service="scorer").observe(
                max(0.0, (now - draft.created_at).total_seconds())
            )
        for name, seconds in stats.seconds.items():
            SIGNAL_SECONDS.labels(signal=name).observe(seconds / len(drafts))
        for name, count in stats.failures.items():
            SIGNAL_FAILURES.labels(signal=name).inc(count)
        # Batch size and batch time (commit included) are the shared loop's metrics.
        SCORING_SECONDS.observe((time.perf_counter() - started) / len(drafts))


def bootstrap(
    settings: ScorerSettings,
    *,
    policy: Policy | None = None,
    toxicity: ToxicityClassifier | None = None,
    producer: Producer | None = None,
    consumer: Consumer | None = None,
    watch_models: bool = True,
) -> ScorerService:
    """Build the service from settings; tests inject clients or the policy."""
    policy = policy or load_policy(settings.policy_file)
    scorer = Scorer(
        policy=policy,
        toxicity=toxicity or ToxicityClassifier(),
        max_spans_per_signal=settings.max_spans_per_signal,
        plugins=load_plugins(policy.signals),
    )
    producer = producer or make_producer(
        settings, transactional_id=settings.scoped(settings.effective_transactional_id)
    )
    consumer = consumer or make_stage_consumer(
        settings,
        group_id=settings.scoped(settings.group_id),
        instance_id=settings.effective_transactional_id,
    )
    publisher = EventPublisher(producer, settings)
    dead_letters = DeadLetterPublisher(
        publisher, service=settings.service_name, topic_prefix=settings.topic_prefix
    )
    holder = ModelHolder(load_model(prior()))
    watcher = None
    if watch_models:
        watcher_dlq = DeadLetterPublisher(
            EventPublisher(make_producer(settings), settings),
            service=settings.service_name,
            topic_prefix=settings.topic_prefix,
        )
        watcher = model_watcher(settings, holder, watcher_dlq)
    return ScorerService(
        settings, scorer, holder, consumer, producer, publisher, dead_letters, watcher
    )
