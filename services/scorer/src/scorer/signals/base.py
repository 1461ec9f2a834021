"""What a signal returns. Signals are pure functions of a draft (and its content type's policy)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import JsonValue

from hitl_schemas import Span


@dataclass(frozen=True, slots=True)
class SignalResult:
    """`value` is a risk in [0, 1] (0: nothing found), except `producer_confidence`, which is
    the producer's own probability of being right. `spans` point into the draft text."""

    value: float
    spans: tuple[Span, ...] = ()
    details: dict[str, JsonValue] = field(default_factory=dict)


def span(start: int, end: int, label: str) -> Span:
    # Built from our own offsets: construct without re-validating on the hot path.
    return Span.model_construct(start=start, end=end, label=label[:200])


def saturate(hits: float, per_hit: float = 0.6) -> float:
    """1 - (1 - per_hit)^hits: one hit is already strong, more hits approach 1."""
    return 1.0 - (1.0 - per_hit) ** hits if hits > 0 else 0.0
