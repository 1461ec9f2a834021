"""The router's exactly-once stages, on confluent-kafka transactions.

- `RouteStage`: `scored` -> `auto-approved` | `needs-review` (or `scored.dlq`), with each content
  type's serving threshold from `router-thresholds`, followed in full by every replica.
- `RegroupStage`: `decisions` -> the router's by-type topic keyed by content type (or
  `decisions.dlq`), so one faust worker owns each type's evidence.

faust-streaming's exactly_once mode duplicated outputs after kill -9 in our test (it is an open
upstream issue), so the stages that must never duplicate run here; faust keeps the state.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from hitl_runtime import tail
from hitl_runtime.cloudevents import source_of
from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter, publish_or_dead_letter
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.kafka import EventPublisher, make_consumer, make_producer, make_stage_consumer
from hitl_runtime.metrics import END_TO_END_SECONDS, content_type_label
from hitl_runtime.policy import Policy
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.signing import Verifier, signer_for, verifier_for
from hitl_runtime.thresholds import LatestThresholds
from hitl_runtime.txn import TransactionalLoop
from hitl_schemas import Decision, ErrorInfo, ScoredDraft, topic
from router import metrics
from router.config import RouterSettings
from router.core import NOT_EVIDENCE, RouterConfig, TypeState, initial_state, route
from router.dedupe import Seen, SeenDrafts, fingerprint
from router.evidence import slice_of
from router.tally import TALLY_TYPE, Tallies

log = logging.getLogger(__name__)

# How long rebuilding duplicate memory may take per batch, all partitions together, inside the
# transaction in hand (its timeout is 60 s) and well inside the stage watchdog's limit: past
# it, the stage routes on with what it read, and says so.
SEED_SECONDS = 20.0
REUSED_ID = ErrorInfo(
    kind="schema",
    field="draft.draft_id",
    message="this draft_id was routed already for a draft with other content; give each draft "
    "an id of its own (a re-sent copy of the same draft is dropped, not dead-lettered)",
)


class Views(LatestThresholds):
    """The thresholds published on `router-thresholds`, as routing state."""

    def __init__(self, policy: Policy, verifier: Verifier | None = None) -> None:
        super().__init__(verifier)
        self.policy = policy

    def apply(self, msg: Message) -> None:
        before = dict(self.current)
        super().apply(msg)
        # Every replica exports what it follows, from the start: after a restart each type's
        # threshold shows at once, not at its next change, whichever replica learns it.
        for content_type, state in self.current.items():
            if before.get(content_type) is not state:
                metrics.export_threshold(state, self.policy.content_types)

    def state_for(self, content_type: str, policy: Policy) -> TypeState | None:
        ct = policy.for_type(content_type)
        if ct is None:
            return None
        state = initial_state(content_type, ct)
        view = self.current.get(content_type)
        if view is not None:
            state.threshold, state.mode, state.version = view.threshold, view.mode, view.version
            state.audit_boost_left = 1 if view.audit_boost else 0
            state.audit_phase = view.audit_phase
        return state


def _transactional_producer(settings: RouterSettings, stage: str) -> Producer:
    return make_producer(
        settings, transactional_id=settings.scoped(f"{settings.effective_instance_id}-{stage}")
    )


def _stage_consumer(settings: RouterSettings, stage: str) -> Consumer:
    return make_stage_consumer(
        settings,
        group_id=settings.scoped(f"{settings.app_id}-{stage}"),
        instance_id=f"{settings.effective_instance_id}-{stage}",
    )


class RouteStage:
    def __init__(self, settings: RouterSettings, policy: Policy, config: RouterConfig) -> None:
        self.settings, self.policy, self.config = settings, policy, config
        self.views = Views(policy, verifier_for(settings, "router-thresholds"))
        self.follower = CompactedFollower(
            settings,
            topic("router-thresholds", settings.topic_prefix),
            self.views.apply,
            name="thresholds",
        )
        producer = _transactional_producer(settings, "route")
        self.publisher = EventPublisher(producer, settings)
        self.dead_letters = DeadLetterPublisher(
            self.publisher, service=settings.service_name, topic_prefix=settings.topic_prefix
        )
        self.loop = TransactionalLoop(
            consumer=_stage_consumer(settings, "route"),
            producer=producer,
            topics=[topic("scored", settings.topic_prefix)],
            handle=self.handle,
            batch_size=settings.batch_size,
            batch_timeout=0.05,
            service=settings.service_name,
            stage="route",
            on_commit=self._committed,
            on_release=self._released,
            topic_prefix=settings.topic_prefix,
        )
        self.tallies = Tallies()
        self.by_type = by_type_topic(settings)
        self.source = source_of(settings.service_name).encode()
        self.signer = signer_for(settings)
        window = settings.dedupe_window
        self._seed_deadline = 0.0
        self.seen = SeenDrafts(window) if window else None
        # Reads a partition's records before the first one handled, to rebuild its memory;
        # assigned by hand, in a throwaway group that never commits.
        self.reader = (
            make_consumer(settings, group_id=settings.scoped(f"{settings.app_id}-route-seed"))
            if window
            else None
        )

    def run(self, stop: threading.Event) -> None:
        self.follower.start()
        self.follower.caught_up.wait(30)
        try:
            self.loop.run(stop)
        finally:
            self.follower.stop()
            if self.reader is not None:
                self.reader.close()

    def _committed(self) -> None:
        self.publisher.drain_failures()
        if self.seen is not None:
            self.seen.committed()

    def _released(self, partitions: list[int]) -> None:
        if self.seen is not None:
            self.seen.forget(partitions)

    def _seen(self, msg: Message, scored: ScoredDraft) -> Seen:
        if self.seen is None:
            return Seen.FIRST
        partition = msg.partition() or 0
        if self.seen.needs_seed(partition):
            self.seen.seed(partition, self._earlier(msg.topic() or "", partition,
                                                    msg.offset() or 0))  # fmt: skip
        draft_id = scored.draft.draft_id
        seen = self.seen.check(partition, draft_id, fingerprint(scored.draft))
        if seen is not Seen.FIRST:
            metrics.DUPLICATE_DRAFTS.labels(seen.value).inc()
            log.info(
                "a draft id already routed came again",
                extra={"fields": {"draft_id": draft_id, "seen": seen.value,
                                  "partition": partition, "offset": msg.offset()}},
            )  # fmt: skip
        return seen

    def _earlier(self, name: str, partition: int, before: int) -> list[tuple[str, str]]:
        """(draft id, fingerprint) of the records in the partition's last `window` offsets
        before `before`: what committed transactions have routed already."""
        if self.reader is None or self.seen is None:
            return []
        drafts: list[tuple[str, str]] = []
        try:
            low, _ = self.reader.get_watermark_offsets(TopicPartition(name, partition), timeout=5)
            start = max(low, before - self.seen.window)
            snap = tail.Snapshot(name, {partition: (start, before)} if start < before else {})
            for record in tail.records(self.reader, snap, deadline=self._seed_deadline):
                try:
                    draft = decode(ScoredDraft, record.value(), self.settings.limits).draft
                except EventValidationError:
                    continue  # dead-lettered when it was handled: no draft id was routed
                drafts.append((draft.draft_id, fingerprint(draft)))
        except (KafkaException, TimeoutError) as exc:
            log.warning(
                "duplicate memory only partly rebuilt; a copy of a draft routed before this "
                "partition was assigned may be routed again",
                extra={"fields": {"partition": partition, "drafts_read": len(drafts),
                                  "reason": str(exc)[:300]}},
            )  # fmt: skip
        return drafts

    def handle(self, records: Sequence[Message]) -> None:
        self.tallies.drain()  # what an aborted batch left
        self._route(records)
        # In the batch's transaction: committed before any of its drafts can be reviewed, so
        # each tally reaches the learner before the decisions on its drafts (router.tally).
        for tally in self.tallies.drain():
            key, value = tally.content_type.encode(), tally.model_dump_json().encode()
            headers: list[tuple[str, str | bytes | None]] = [
                ("ce_type", TALLY_TYPE.encode()),
                ("ce_id", uuid.uuid4().hex.encode()),
                ("ce_source", self.source),
            ]
            if self.signer is not None:
                headers = self.signer.sign(self.by_type, key, value, headers)
            self.publisher.producer.produce(self.by_type, key=key, value=value, headers=headers)

    def _route(self, records: Sequence[Message]) -> None:
        if self.seen is not None:
            self.seen.begin()
            self._seed_deadline = time.monotonic() + SEED_SECONDS
        for msg in records:
            started = time.perf_counter()
            scored = decode_or_dead_letter(
                msg, ScoredDraft, limits=self.settings.limits, dead_letters=self.dead_letters
            )
            if scored is None:
                continue
            seen = self._seen(msg, scored)
            if seen is Seen.COPY:
                continue
            if seen is Seen.REUSED:
                self.dead_letters.send(msg, REUSED_ID)
                continue
            ct = scored.draft.content_type
            try:
                routed = route(
                    scored,
                    self.views.state_for(ct, self.policy),
                    self.policy,
                    self.config,
                    datetime.now(UTC),
                )
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the router
                log.exception("routing failed")
                self.dead_letters.send(
                    msg, ErrorInfo(kind="processing", message=f"{type(exc).__name__}: {exc}"[:2000])
                )
                continue
            name = "auto-approved" if routed.route == "auto_approved" else "needs-review"
            published = publish_or_dead_letter(
                msg,
                name,
                scored.draft.draft_id,
                routed,
                publisher=self.publisher,
                dead_letters=self.dead_letters,
            )
            if published is None:
                continue  # dead-lettered: its RoutedDraft cannot be produced within the limit
            if routed.reason.kind not in NOT_EVIDENCE:
                wait = self.policy.content_types[ct].verdict_wait
                self.tallies.add(
                    ct, routed.threshold_version, slice_of(routed.routed_at.timestamp(), wait),
                    score=routed.score.confidence, q=routed.audit_q,
                    review_all=routed.reason.kind == "review_all", phase=routed.audit_phase,
                    reviewed=routed.route == "needs_review",
                )  # fmt: skip
            label = content_type_label(ct, self.policy.content_types)
            metrics.ROUTED.labels(label, routed.route, routed.reason.kind).inc()
            if routed.reason.kind == "unknown_content_type":
                metrics.UNKNOWN_CONTENT_TYPE.inc()
            if routed.audit:
                metrics.AUDITS.labels(label).inc()
            metrics.ROUTING_SECONDS.observe(time.perf_counter() - started)
            END_TO_END_SECONDS.labels(service=self.settings.service_name).observe(
                max(0.0, (routed.routed_at - scored.draft.created_at).total_seconds())
            )


class RegroupStage:
    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings
        # Only review-api may write decisions: a forged approval would move the thresholds.
        self.verifier = verifier_for(settings, "decisions")
        self.producer = _transactional_producer(settings, "regroup")
        self.dead_letters = DeadLetterPublisher(
            EventPublisher(self.producer, settings),
            service=settings.service_name,
            topic_prefix=settings.topic_prefix,
        )
        self.loop = TransactionalLoop(
            consumer=_stage_consumer(settings, "regroup"),
            producer=self.producer,
            topics=[topic("decisions", settings.topic_prefix)],
            handle=self.handle,
            batch_size=settings.batch_size,
            batch_timeout=0.05,
            service=settings.service_name,
            stage="regroup",
            topic_prefix=settings.topic_prefix,
        )

    def run(self, stop: threading.Event) -> None:
        self.loop.run(stop)

    def handle(self, records: Sequence[Message]) -> None:
        target = by_type_topic(self.settings)
        for msg in records:
            decision = decode_or_dead_letter(
                msg,
                Decision,
                limits=self.settings.limits,
                dead_letters=self.dead_letters,
                verifier=self.verifier,
            )
            if decision is not None:
                self.producer.produce(
                    target,
                    key=decision.content_type.encode(),
                    value=msg.value(),
                    headers=msg.headers(),
                )


def by_type_topic(settings: RouterSettings) -> str:
    return f"{settings.topic_prefix}{settings.app_id}-decisions-by-type"
