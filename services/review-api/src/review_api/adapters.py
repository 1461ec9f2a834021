"""Kafka edges of the review service: ingest `needs-review`, relay the outbox to `decisions`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hitl_runtime.cloudevents import ce_headers, source_of
from hitl_runtime.dlq import DeadLetterPublisher, dead_letter_for, decode_or_dead_letter
from hitl_runtime.health import STAGES, GroupMembership
from hitl_runtime.kafka import make_consumer
from hitl_runtime.lag import LagReporter
from hitl_runtime.limits import fit, max_event_bytes
from hitl_runtime.metrics import BATCH_SIZE, DLQ_MESSAGES, MESSAGES_PRODUCED, PROCESSING_SECONDS
from hitl_runtime.policy import Policy
from hitl_runtime.serde import encode
from hitl_runtime.signing import signer_for
from hitl_runtime.txn import next_offsets, rewind, usable
from hitl_schemas import Decision, ErrorInfo, RoutedDraft, topic
from hitl_schemas.registry import dlq_of
from review_api import metrics, readmodels, service, sla
from review_api.config import ReviewApiSettings
from review_api.db import Item, Outbox
from review_api.notify import Notifier
from review_api.store import on_postgres, unsent_outbox

log = logging.getLogger(__name__)


def make_ingest_consumer(settings: ReviewApiSettings) -> Consumer:
    """The `needs-review` consumer. A replica killed without leaving the group holds its
    partitions until its session times out; ingest does little between polls, so a short
    session (10 s, not librdkafka's 45 s) gets a restarted or surviving replica going sooner."""
    return make_consumer(
        settings,
        group_id=settings.scoped(settings.group_id),
        **{"session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000},
    )


async def ingest_forever(
    sessions: async_sessionmaker[AsyncSession],
    consumer: Consumer,
    dead_letters: DeadLetterPublisher,
    settings: ReviewApiSettings,
    stop: asyncio.Event,
) -> None:
    """Store each routed draft once; commit offsets only after the database commit.

    A batch that fails (the database or the broker away) is read again after a pause: ingest
    is idempotent by draft id. The loop reports its progress to the stage watchdog; waiting
    out a database outage counts as progress, only a loop that no longer turns does not."""
    membership = GroupMembership()
    consumer.subscribe([topic("needs-review", settings.topic_prefix)], **membership.callbacks)
    lag = LagReporter(settings.service_name, topic_prefix=settings.topic_prefix)
    progress = STAGES.stage(settings.service_name, "ingest")
    try:
        while not stop.is_set():
            msgs = await asyncio.to_thread(consumer.consume, 500, 0.5)
            records = [m for m in msgs if usable(m)]  # a fatal error ends ingest
            if records:
                started = time.perf_counter()
                BATCH_SIZE.labels(settings.service_name, "ingest").observe(len(records))
                try:
                    await ingest_batch(sessions, records, dead_letters, settings)
                    await asyncio.to_thread(dead_letters.flush, 30)
                    await asyncio.to_thread(
                        consumer.commit, offsets=next_offsets(records), asynchronous=False
                    )
                except Exception as exc:  # noqa: BLE001 - ingest must outlive any outage
                    log.warning(
                        "ingest batch failed; reading it again",
                        extra={"fields": {"error": f"{type(exc).__name__}: {exc}"[:300]}},
                    )
                    await asyncio.to_thread(rewind, consumer, records)
                    progress.beat()  # alive and retrying: an outage is not a stuck stage
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)  # retry pacing, ends on stop
                    continue
                progress.beat()
                PROCESSING_SECONDS.labels(settings.service_name, "ingest").observe(
                    time.perf_counter() - started
                )
            # Also when idle: a stalled fetch must still show as lag.
            # A broker round trip when idle and due (unfetched partitions): off the event loop.
            await asyncio.to_thread(lag.update, consumer, idle=not records)
            if not records:
                progress.idle(in_group=membership.in_group, waiting=lag.waiting)
    finally:
        lag.clear()
        await asyncio.to_thread(consumer.close)


async def ingest_batch(
    sessions: async_sessionmaker[AsyncSession],
    records: list[Message],
    dead_letters: DeadLetterPublisher,
    settings: ReviewApiSettings,
) -> int:
    new = 0
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        for msg in records:
            routed = decode_or_dead_letter(
                msg, RoutedDraft, limits=settings.limits, dead_letters=dead_letters
            )
            if routed is None:
                continue
            outcome = await service.ingest(session, routed, msg.value() or b"", now)
            if outcome == "tenant_clash":
                dead_letters.send(msg, service.tenant_clash(routed))
            new += outcome == "new"
    return new


async def relay_forever(
    sessions: async_sessionmaker[AsyncSession],
    producer: Producer,
    settings: ReviewApiSettings,
    stop: asyncio.Event,
) -> None:
    # Exported at 0 from the start, so "nothing delivered lately" is a rate of 0, not no data.
    MESSAGES_PRODUCED.labels(settings.service_name, "decisions")
    unmarked: set[int] = set()
    while not stop.is_set():
        try:
            sent = await relay_once(sessions, producer, settings, unmarked)
        except Exception:
            log.exception("outbox relay pass failed; retrying")
            sent = 0
        if not sent:
            try:
                await asyncio.wait_for(stop.wait(), settings.relay_interval_ms / 1000)
            except TimeoutError:
                pass


async def relay_once(
    sessions: async_sessionmaker[AsyncSession],
    producer: Producer,
    settings: ReviewApiSettings,
    unmarked: set[int] | None = None,
) -> int:
    """Publish unsent outbox rows; mark sent only those the broker acknowledged. A pass waits
    for every delivery report, so a row is never in flight twice. On PostgreSQL the rows stay
    locked (SKIP LOCKED) until marked, so several replicas never publish the same decision; on
    SQLite no transaction is held across the flush, where it would block the API's writes.

    `unmarked` carries, from pass to pass, rows the broker acknowledged but the database could
    not mark (it went away mid-pass): they are marked before anything else, never published
    again, so a database outage does not put a decision on `decisions` twice."""
    unmarked = set() if unmarked is None else unmarked
    if unmarked:
        async with sessions() as session, session.begin():
            await _mark_sent(session, sorted(unmarked), settings)
        unmarked.clear()
    async with sessions() as session, session.begin():
        rows = await unsent_outbox(session, 500)
        if not rows:
            return 0
        locked = on_postgres(session)  # rows held FOR UPDATE until marked
        if locked:
            delivered = await _publish(rows, producer, settings)
            unmarked.update(delivered)
            await _mark_sent(session, delivered, settings)
    if not locked:
        delivered = await _publish(rows, producer, settings)
        unmarked.update(delivered)
        async with sessions() as session, session.begin():
            await _mark_sent(session, delivered, settings)
    unmarked.difference_update(delivered)  # committed: nothing left to remember
    return len(delivered)


async def _publish(
    rows: list[Outbox], producer: Producer, settings: ReviewApiSettings
) -> list[int]:
    delivered: list[int] = []
    failures: dict[str, int] = {}

    def report(row_id: int) -> Callable[[KafkaError | None, Message], None]:
        def callback(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                delivered.append(row_id)
            else:
                failures[err.str()] = failures.get(err.str(), 0) + 1

        return callback

    source = source_of(settings.service_name)
    signer = signer_for(settings)  # readers drop decisions review-api's key did not sign
    limit = max_event_bytes(settings, Decision)
    for row in rows:
        event = Decision.model_validate_json(row.payload)
        value = row.payload.encode()
        fitted = fit(event, value, limit)  # too large: without its spans, else dead-lettered
        if fitted is None:
            try:
                _dead_letter_unpublishable(producer, row, len(value), limit, settings, report)
            except BufferError:
                break
            continue
        event, value = fitted
        headers = ce_headers(event, source=source, subject=row.key, event_id=event.decision_id)
        if signer is not None:
            headers = signer.sign("decisions", row.key, value, headers)
        try:
            producer.produce(
                row.topic,
                key=row.key.encode(),
                value=value,
                headers=headers,
                on_delivery=report(row.id),
            )
        except BufferError:
            break  # the local queue is full: the rest go in the next pass
        except KafkaException as exc:
            # One row the client refuses (e.g. too large) must not stop the rows after it: it
            # stays unsent, reported each pass, and the others go out.
            failures[str(exc.args[0])] = failures.get(str(exc.args[0]), 0) + 1
    while await asyncio.to_thread(producer.flush, 1.0):
        pass
    if failures:  # one line per pass, not one per row: an outage must not flood the logs
        log.warning(
            "decisions not delivered yet; they stay in the outbox",
            extra={"fields": {"undelivered": sum(failures.values()), "reasons": failures}},
        )
    return delivered


def _dead_letter_unpublishable(
    producer: Producer,
    row: Outbox,
    size: int,
    limit: int,
    settings: ReviewApiSettings,
    report: Callable[[int], Callable[[KafkaError | None, Message], None]],
) -> None:
    """A decision too large to publish even without its spans must not be retried each pass
    forever: it goes to `decisions.dlq` with the reason (the row is marked sent once the letter
    is delivered) and its payload stays in the outbox row, to be sent again (sent_at set back to
    NULL) after HITL_MAX_MESSAGE_BYTES and the broker's limit are raised."""
    reason = (
        f"decision {row.key} would be {size} bytes, over the limit of {limit} bytes (from "
        f"HITL_MAX_MESSAGE_BYTES) even without its spans; never published: it stays in "
        f"review-api's outbox, row {row.id}"
    )
    letter = dead_letter_for(
        topic="decisions", partition=0, offset=0, key=row.key, value=None, headers=None,
        error=ErrorInfo(kind="output_too_large", message=reason), service=settings.service_name,
    )  # fmt: skip
    producer.produce(
        topic(dlq_of("decisions"), settings.topic_prefix),
        key=row.key.encode(),
        value=encode(letter),
        headers=ce_headers(letter, source=source_of(settings.service_name), subject=row.key),
        on_delivery=report(row.id),
    )
    DLQ_MESSAGES.labels(settings.service_name, "decisions", "output_too_large").inc()
    log.error(
        "decision too large to publish; sent to decisions.dlq, kept in the outbox",
        extra={"fields": {"outbox_id": row.id, "key": row.key, "bytes": size, "limit": limit}},
    )


async def _mark_sent(
    session: AsyncSession, delivered: list[int], settings: ReviewApiSettings
) -> None:
    if not delivered:
        return
    await session.execute(
        update(Outbox).where(Outbox.id.in_(delivered)).values(sent_at=datetime.now(UTC))
    )
    # Every outbox row is a Decision for `decisions` (verdicts and SLA fallback rejects).
    MESSAGES_PRODUCED.labels(settings.service_name, "decisions").inc(len(delivered))


async def sweep_forever(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    notifier: Notifier,
    settings: ReviewApiSettings,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            async with sessions() as session, session.begin():
                notices = await sla.sweep(
                    session,
                    policy=policy,
                    now=datetime.now(UTC),
                    topic_prefix=settings.topic_prefix,
                )
            await notifier.send(notices)
            async with sessions() as session:
                await export_queue_gauges(session, policy)
        except Exception:
            log.exception("SLA sweep failed; retrying")
        try:
            await asyncio.wait_for(stop.wait(), settings.sla_sweep_seconds)
        except TimeoutError:
            pass


async def export_queue_gauges(session: AsyncSession, policy: Policy) -> None:
    """Queue depth, oldest item, overdue count and unsent outbox, refreshed on the sweeper's
    beat. Only queued items and unsent rows are read (both indexed), never the history."""
    now = datetime.now(UTC)
    queued = Item.status == "queued"
    rows = await session.execute(
        select(Item.tier, Item.content_type, func.count(), func.min(Item.received_at))
        .where(queued)
        .group_by(Item.tier, Item.content_type)
    )
    overdue = await session.execute(select(func.count()).where(queued, Item.due_at < now))
    unsent = await session.execute(select(func.count()).where(Outbox.sent_at.is_(None)))
    # Cleared first: a tier and type whose queue emptied must vanish, not keep its last depth.
    metrics.QUEUE_DEPTH.clear()
    metrics.OLDEST_ITEM_AGE.clear()
    gauges = readmodels.queue_gauges(rows.tuples(), policy.content_types, now)
    for (tier, content_type), (items, oldest_age) in gauges.items():
        metrics.QUEUE_DEPTH.labels(tier, content_type).set(items)
        metrics.OLDEST_ITEM_AGE.labels(tier, content_type).set(oldest_age)
    metrics.OVERDUE.set(overdue.scalar_one())
    metrics.OUTBOX_UNSENT.set(unsent.scalar_one())
