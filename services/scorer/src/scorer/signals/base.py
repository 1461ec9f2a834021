"""What a signal returns. Signals are pure functions of a draft (and its content type's policy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import JsonValue

from hitl_schemas import Draft


class SpanAt(NamedTuple):
    """A stretch of the draft text a signal flags. A plain tuple, not the event's `Span`: a
    hostile draft yields thousands, and only the first HITL_MAX_SPANS_PER_SIGNAL by position
    become `Span`s in the event (scorer.scoring); the rest are only counted."""

    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class SignalResult:
    """`value` is a risk in [0, 1] (0: nothing found), except `producer_confidence`, which is
    the producer's own probability of being right. `spans` point into the draft text, the first
    by position of what the signal found; `spans_left_out` counts the rest, which a signal that
    finds thousands (PII in a hostile draft) does not build."""

    value: float
    spans: tuple[SpanAt, ...] = ()
    details: dict[str, JsonValue] = field(default_factory=dict)
    spans_left_out: int = 0


def span(start: int, end: int, label: str) -> SpanAt:
    return SpanAt(start, end, label[:200])


def saturate(hits: float, per_hit: float = 0.6) -> float:
    """1 - (1 - per_hit)^hits: one hit is already strong, more hits approach 1."""
    return 1.0 - (1.0 - per_hit) ** hits if hits > 0 else 0.0


PerDraft = Callable[[Draft], SignalResult]  # a signal read from one draft alone
