"""Exactly-once consume-transform-produce with confluent-kafka transactions.

Each batch is one transaction holding the produced records (outputs and dead letters) and the
consumed offsets, so a read_committed reader sees each input's outputs exactly once, through
kill -9: an unfinished transaction is aborted when the replica restarts with the same
transactional id (or when it times out), and the batch is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import Counter

from hitl_runtime.health import STAGES, GroupMembership, Health
from hitl_runtime.lag import LagReporter
from hitl_runtime.metrics import BATCH_SIZE, PROCESSING_SECONDS

log = logging.getLogger(__name__)

TRANSACTIONS_ABORTED = Counter(
    "hitl_transactions_aborted_total",
    "Batches aborted and re-read after a Kafka error, per service and stage.",
    ["service", "stage"],
)

BatchHandler = Callable[[Sequence[Message]], None]


def next_offsets(records: Sequence[Message]) -> list[TopicPartition]:
    """The offsets to commit: one past the last record of each partition in the batch."""
    last: dict[tuple[str, int], int] = {}
    for msg in records:
        key = (msg.topic() or "", msg.partition() or 0)
        last[key] = max(last.get(key, -1), msg.offset() or 0)
    return [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]


def usable(msg: Message) -> bool:
    """Is this a record (not an error event)? A fatal consumer error is raised: the consumer
    is dead for good (e.g. fenced: a broker crash lost the static member's id, and the replica
    that rejoined under the same group.instance.id took its place), and a loop that logged it
    and polled on would route nothing, alive, forever. The restarted process rejoins."""
    err = msg.error()
    if err is None:
        return True
    if err.fatal() or err.code() == KafkaError._FATAL:
        log.critical(
            "fatal consumer error; the consumer cannot be used again",
            extra={"fields": {"code": err.name(), "reason": err.str()}},
        )
        raise KafkaException(err)
    log.warning("consume error", extra={"fields": {"code": err.name(), "reason": err.str()}})
    return False


def rewind(consumer: Consumer, records: Sequence[Message]) -> None:
    """Seek each partition back to the first record of an aborted batch."""
    first: dict[tuple[str, int], int] = {}
    for msg in records:
        key = (msg.topic() or "", msg.partition() or 0)
        first[key] = min(first.get(key, msg.offset() or 0), msg.offset() or 0)
    for (t, p), offset in first.items():
        consumer.seek(TopicPartition(t, p, offset))


class TransactionalLoop:
    """Consume batches from `topics`, hand each to `handle` inside a transaction, commit.

    Progress is reported to `health` (hitl_runtime.health): a committed batch, or a poll with
    nothing waiting while the consumer holds its assignment. Calls librdkafka asks to be
    retried ("retry call to resume": a timeout while the broker is away) are retried until they
    succeed or the loop is stopped; the stage watchdog ends a process whose retries never do.
    """

    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        topics: list[str],
        handle: BatchHandler,
        batch_size: int,
        batch_timeout: float,
        service: str,
        stage: str,
        on_commit: Callable[[], object] | None = None,
        on_start: Callable[[], object] | None = None,
        on_release: Callable[[list[int]], object] | None = None,
        topic_prefix: str = "",
        health: Health = STAGES,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.handle = handle
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.service = service
        self.stage = stage
        self.on_commit = on_commit
        self.on_start = on_start
        self.lag = LagReporter(service, topic_prefix=topic_prefix)
        self.progress = health.stage(service, stage)
        self.membership = GroupMembership(on_release)

    def run(self, stop: threading.Event) -> None:
        """Process until `stop` is set; the batch in hand is finished and committed first."""
        if not self._resume(lambda: self.producer.init_transactions(30), "init_transactions", stop):
            self.consumer.close()
            return
        if self.on_start is not None:
            # After init_transactions: our previous incarnation's open transaction is closed,
            # so what it wrote is either committed and readable or aborted for good.
            self.on_start()
        self.consumer.subscribe(self.topics, **self.membership.callbacks)
        try:
            while not stop.is_set():
                records = [m for m in self._next_batch() if usable(m)]
                if records:
                    started = time.perf_counter()
                    BATCH_SIZE.labels(self.service, self.stage).observe(len(records))
                    if self._in_transaction(records, stop):
                        self.progress.beat()
                    PROCESSING_SECONDS.labels(self.service, self.stage).observe(
                        time.perf_counter() - started
                    )
                # Also when idle: the lag of a stalled or empty fetch must still be seen.
                self.lag.update(self.consumer, idle=not records)
                if not records:
                    self.progress.idle(in_group=self.membership.in_group, waiting=self.lag.waiting)
        finally:
            self.lag.clear()
            self.consumer.close()

    def _next_batch(self) -> list[Message]:
        """What has arrived, as soon as anything has: wait up to `batch_timeout` for one record,
        then take what the consumer has already fetched, up to `batch_size`, without waiting.

        `consume(batch_size, timeout)` alone returns early only when the batch is full, so at
        low load every record waited the whole timeout before its stage began (two stages in a
        row: ~100 ms of an idle system's latency). Taken this way, a lone draft is one
        transaction, and under load the batch grows by itself: records keep arriving while a
        batch is processed and committed, and the next take finds them already fetched."""
        first = self.consumer.consume(1, self.batch_timeout)
        if not first or self.batch_size == 1:
            return first
        return first + self.consumer.consume(self.batch_size - 1, 0)

    def _resume(self, call: Callable[[], object], what: str, stop: threading.Event) -> bool:
        """Call until it succeeds, retrying what librdkafka says to retry; False if stopped
        first. Errors that need an abort, and fatal ones, are raised."""
        warned = False
        while True:
            try:
                call()
                return True
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or error.txn_requires_abort() or error.fatal():
                    raise
                if stop.is_set():
                    return False
                if not warned:
                    log.warning(
                        "transactional call timed out; retrying until the broker answers",
                        extra={"fields": {"stage": self.stage, "call": what,
                                          "reason": error.str()}},
                    )  # fmt: skip
                    warned = True

    def _in_transaction(self, records: Sequence[Message], stop: threading.Event) -> bool:
        """One batch in one transaction: True once committed, False if aborted (the batch is
        then read again) or stopped with the commit unfinished (aborted when we return)."""
        self.producer.begin_transaction()
        try:
            self.handle(records)
            metadata = self.consumer.consumer_group_metadata()
            offsets = next_offsets(records)
            committed = self._resume(
                lambda: self.producer.send_offsets_to_transaction(offsets, metadata, 30),
                "send_offsets_to_transaction",
                stop,
            ) and self._resume(
                lambda: self.producer.commit_transaction(60), "commit_transaction", stop
            )
            if committed and self.on_commit is not None:
                self.on_commit()
            return committed
        except KafkaException as exc:
            error = exc.args[0]
            if not error.txn_requires_abort():
                raise  # fatal (fenced, or unrecoverable): exit and let the supervisor restart us
            log.warning(
                "transaction aborted; re-reading the batch",
                extra={"fields": {"stage": self.stage, "reason": error.str()}},
            )
            TRANSACTIONS_ABORTED.labels(service=self.service, stage=self.stage).inc()
            self._resume(lambda: self.producer.abort_transaction(30), "abort_transaction", stop)
            rewind(self.consumer, records)
            return False
