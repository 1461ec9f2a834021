"""The latest ThresholdState per content type, kept from following `router-thresholds`.

Router replicas route with it; review-api serves it. Feed `apply` from a CompactedFollower.
A threshold no trusted key signed is skipped and counted (a forged low threshold would
auto-approve drafts): the last trusted state per type stays.
"""

from __future__ import annotations

import logging

from confluent_kafka import Message

from hitl_runtime.dlq import record_headers
from hitl_runtime.kafka import Throttle
from hitl_runtime.metrics import UNVERIFIED_EVENTS
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.signing import Verifier
from hitl_schemas import ThresholdState

log = logging.getLogger(__name__)


class LatestThresholds:
    def __init__(self, verifier: Verifier | None = None) -> None:
        self.current: dict[str, ThresholdState] = {}
        self.verifier = verifier
        self._warnings = Throttle()

    def apply(self, msg: Message) -> None:
        if self.verifier is not None:
            headers = record_headers(msg)
            reason = "malformed_signature" if headers is None else None
            reason = reason or self.verifier.check(msg.key(), msg.value(), headers or [])
            if reason is not None:
                UNVERIFIED_EVENTS.labels(self.verifier.service, "router-thresholds", reason).inc()
                held = self._warnings.admit(reason)
                if held is not None:
                    log.warning(
                        "unverified threshold record skipped; the last trusted one stays",
                        extra={"fields": {"reason": reason, "offset": msg.offset(),
                                          "similar_held_back": held}},
                    )  # fmt: skip
                return
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
