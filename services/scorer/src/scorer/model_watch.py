"""Hot swap: follow `scorer-models` and put each valid new version of our model into service.

The serving model is one immutable object behind a reference: the scoring loop reads it once per
batch, so a swap never splits a batch between two versions and needs no lock on the hot path.
"""

from __future__ import annotations

import logging
import threading
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter
from hitl_runtime.kafka import make_consumer
from hitl_schemas import ErrorInfo, ModelVersion, topic
from scorer.config import ScorerSettings
from scorer.metrics import MODEL_INFO, MODEL_REJECTED, MODEL_SWAPS
from scorer.model import Combiner, ModelRejected, load_model

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self, initial: Combiner) -> None:
        self._current = initial
        MODEL_INFO.labels(name=initial.name, version=initial.version).set(1)

    @property
    def current(self) -> Combiner:
        return self._current

    def offer(self, version: ModelVersion) -> Combiner:
        """Validate and serve `version`; raises ModelRejected and keeps the old one otherwise."""
        combiner = load_model(version)
        previous, self._current = self._current, combiner
        MODEL_INFO.labels(name=previous.name, version=previous.version).set(0)
        MODEL_INFO.labels(name=combiner.name, version=combiner.version).set(1)
        MODEL_SWAPS.inc()
        log.info(
            "model swapped",
            extra={"fields": {"from": previous.version, "to": combiner.version}},
        )
        return combiner


class ModelWatcher(threading.Thread):
    """Reads `scorer-models` from the beginning; `caught_up` is set once it reached the end."""

    def __init__(
        self,
        settings: ScorerSettings,
        holder: ModelHolder,
        dead_letters: DeadLetterPublisher,
    ) -> None:
        super().__init__(name="model-watch", daemon=True)
        self._settings = settings
        self._holder = holder
        self._dead_letters = dead_letters
        self._stop_event = threading.Event()
        self.caught_up = threading.Event()
        self._consumer: Consumer = make_consumer(
            settings, group_id=f"hitl-scorer-models-{uuid.uuid4().hex[:8]}"
        )

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        name = topic("scorer-models", self._settings.topic_prefix)
        try:
            partitions = self._consumer.list_topics(name, timeout=10).topics[name].partitions
            self._consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
            while not self._stop_event.is_set():
                msg = self._consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    self._apply(msg)
                if not self.caught_up.is_set() and self._at_end(name, list(partitions)):
                    self.caught_up.set()
        except Exception:
            log.exception("model watcher stopped; the serving model stays")
            self.caught_up.set()
        finally:
            self._consumer.close()
            self._dead_letters.flush(10)

    def _at_end(self, name: str, partitions: list[int]) -> bool:
        positions = self._consumer.position([TopicPartition(name, p) for p in partitions])
        for tp in positions:
            _, high = self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            if high > 0 and tp.offset < high:
                return False
        return True

    def _apply(self, msg: Message) -> None:
        version = decode_or_dead_letter(
            msg, ModelVersion, limits=self._settings.limits, dead_letters=self._dead_letters
        )
        if version is None or version.name != self._settings.model_name:
            return
        if version.version == self._holder.current.version:
            return
        try:
            self._holder.offer(version)
        except ModelRejected as exc:
            MODEL_REJECTED.inc()
            log.warning(
                "model refused; the serving model stays",
                extra={"fields": {"version": version.version, "reason": str(exc)}},
            )
            self._dead_letters.send(
                msg, ErrorInfo(kind="processing", field="parameters", message=str(exc))
            )
        self._dead_letters.flush()
