"""How big a record may be, and what may be dropped from an event to stay within that.

Two limits, both derived from HITL_MAX_MESSAGE_BYTES (E):
- a Draft, and any event written from outside the pipeline, is at most E bytes;
- an event one of our services writes around a record it read (a ScoredDraft, RoutedDraft,
  Decision or FeedbackExample carries the whole Draft; a DeadLetter carries the record) may
  be larger, up to the record limit (max(2E, 1 MiB), what our producers, consumers and the
  broker's `message.max.bytes` allow) less an envelope for the key and headers.
With the default limits a Draft at E (50,000 characters of text, 400,000 of context) fits every
event after it: the scorer adds at most a few hundred KB (spans capped per signal), the
Decision the final text (50,000 characters). An output still too large is produced without
its span lists (the counts stay); failing that, its input is dead-lettered (`output_too_large`,
hitl_runtime.dlq.publish_or_dead_letter) and the stage goes on: one draft never stops a stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from hitl_schemas import (
    DeadLetter,
    Decision,
    Event,
    FeedbackExample,
    RoutedDraft,
    Score,
    ScoredDraft,
    Signal,
)

if TYPE_CHECKING:
    from hitl_runtime.settings import ServiceSettings

E = TypeVar("E", bound=Event)

# Room in a record for what is not its value: the key (an id of at most 128 characters),
# CloudEvents and signature headers, and batch framing.
RECORD_ENVELOPE_BYTES = 16_384
# Events that carry a record another writer made, so they are larger than it.
CARRIERS: tuple[type[Event], ...] = (
    ScoredDraft,
    RoutedDraft,
    Decision,
    FeedbackExample,
    DeadLetter,
)


def record_bytes(max_message_bytes: int) -> int:
    """The largest record our clients produce or fetch: twice the event limit (at least 1 MiB),
    room for an event that carries a whole Draft, or a dead letter with a record in base64."""
    return max(max_message_bytes * 2, 1_048_576)


def event_bytes(model: type[Event], max_message_bytes: int) -> int:
    """The largest encoded value of `model`, written or read (see the module's docstring)."""
    if issubclass(model, CARRIERS):
        return record_bytes(max_message_bytes) - RECORD_ENVELOPE_BYTES
    return max_message_bytes


def max_record_bytes(settings: ServiceSettings) -> int:
    return record_bytes(settings.max_message_bytes)


def max_event_bytes(settings: ServiceSettings, model: type[Event]) -> int:
    return event_bytes(model, settings.max_message_bytes)


class OutputTooLarge(ValueError):
    """An event that would pass its size limit; raised before anything is produced."""

    def __init__(self, topic: str, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"the {event_type} for {topic} would be {size} bytes, over the limit of {limit} "
            "bytes (from HITL_MAX_MESSAGE_BYTES)"
        )
        self.topic, self.event_type, self.size, self.limit = topic, event_type, size, limit


def cap_spans(score: Score, keep: int) -> Score:
    """`score` with at most `keep` spans per signal, the first by position (spans are sorted);
    the others are counted in the signal's `spans_omitted`. The same object when none is cut."""
    if all(len(s.spans) <= keep for s in score.signals):
        return score
    return score.model_copy(update={"signals": [_capped(s, keep) for s in score.signals]})


def _capped(signal: Signal, keep: int) -> Signal:
    if len(signal.spans) <= keep:
        return signal
    cut = len(signal.spans) - keep
    return signal.model_copy(
        update={"spans": signal.spans[:keep], "spans_omitted": signal.spans_omitted + cut}
    )


def without_spans(event: E) -> E:
    """`event` with the span lists of its score dropped to counts: the one part of an event
    that may go without changing what it says (the signals' values and the draft stay whole).
    The same object when it has no score or no span."""
    score = getattr(event, "score", None)
    if not isinstance(score, Score):
        return event
    smaller = cap_spans(score, 0)
    return event if smaller is score else event.model_copy(update={"score": smaller})


def fit(event: E, value: bytes, limit: int) -> tuple[E, bytes] | None:
    """`event` and its encoded `value` within `limit` bytes: as they are, else without span
    lists (without_spans); None when even that does not fit."""
    if len(value) <= limit:
        return event, value
    smaller = without_spans(event)
    if smaller is event:
        return None
    encoded = smaller.model_dump_json().encode()
    return (smaller, encoded) if len(encoded) <= limit else None
