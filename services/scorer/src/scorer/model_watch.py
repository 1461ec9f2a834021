"""Hot swap: follow `scorer-models` and put each valid new version of our model into service.

The serving model is one immutable object behind a reference: the scoring loop reads it once per
batch, so a swap never splits a batch between two versions and needs no lock on the hot path.
"""

from __future__ import annotations

import logging

from confluent_kafka import Message

from hitl_runtime.dlq import DeadLetterPublisher, decode_or_dead_letter
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.signing import verifier_for
from hitl_schemas import ErrorInfo, ModelVersion, topic
from scorer.config import ScorerSettings
from scorer.metrics import MODEL_INFO, MODEL_REJECTED, MODEL_SWAPS
from scorer.model import Combiner, ModelRejected, load_model

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self, initial: Combiner) -> None:
        self._current = initial
        self._replaced: Combiner | None = None
        MODEL_INFO.labels(name=initial.name, version=initial.version).set(1)

    @property
    def current(self) -> Combiner:
        return self._current

    def offer(self, version: ModelVersion) -> Combiner:
        """Validate and serve `version`; raises ModelRejected and keeps the old one otherwise."""
        combiner = load_model(version)
        previous, self._current = self._current, combiner
        # Two series at most, the serving version (1) and the one it replaced (0): a series per
        # version ever served would grow with every retraining run for the process's lifetime.
        if self._replaced is not None and self._replaced.version != combiner.version:
            MODEL_INFO.remove(self._replaced.name, self._replaced.version)
        self._replaced = previous
        MODEL_INFO.labels(name=previous.name, version=previous.version).set(0)
        MODEL_INFO.labels(name=combiner.name, version=combiner.version).set(1)
        MODEL_SWAPS.inc()
        log.info(
            "model swapped", extra={"fields": {"from": previous.version, "to": combiner.version}}
        )
        return combiner


def model_watcher(
    settings: ScorerSettings, holder: ModelHolder, dead_letters: DeadLetterPublisher
) -> CompactedFollower:
    """A follower of `scorer-models` that offers each new version of our model to `holder`.
    A version no trusted key signed (only feedback may publish) is dead-lettered unread."""
    verifier = verifier_for(settings, "scorer-models")

    def apply(msg: Message) -> None:
        version = decode_or_dead_letter(
            msg, ModelVersion, limits=settings.limits, dead_letters=dead_letters, verifier=verifier
        )
        if version is not None and version.name == settings.model_name:
            if version.version != holder.current.version:
                try:
                    holder.offer(version)
                except ModelRejected as exc:
                    MODEL_REJECTED.inc()
                    log.warning(
                        "model refused; the serving model stays",
                        extra={"fields": {"version": version.version, "reason": str(exc)}},
                    )
                    dead_letters.send(
                        msg, ErrorInfo(kind="processing", field="parameters", message=str(exc))
                    )
        dead_letters.flush()

    return CompactedFollower(
        settings, topic("scorer-models", settings.topic_prefix), apply, name="model-watch"
    )
