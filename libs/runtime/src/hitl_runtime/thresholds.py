"""The latest ThresholdState per content type, kept from following `router-thresholds`.

Router replicas route with it; review-api serves it. Feed `apply` from a CompactedFollower.
"""

from __future__ import annotations

import logging

from confluent_kafka import Message

from hitl_runtime.serde import EventValidationError, decode
from hitl_schemas import ThresholdState

log = logging.getLogger(__name__)


class LatestThresholds:
    def __init__(self) -> None:
        self.current: dict[str, ThresholdState] = {}

    def apply(self, msg: Message) -> None:
        try:
            state = decode(ThresholdState, msg.value())
        except EventValidationError as exc:
            log.warning(
                "unreadable threshold record skipped", extra={"fields": {"reason": str(exc)}}
            )
            return
        known = self.current.get(state.content_type)
        if known is None or state.version >= known.version:
            self.current[state.content_type] = state
