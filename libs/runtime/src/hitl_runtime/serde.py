"""JSON wire format: UTF-8 JSON validated by the contract's pydantic models.

`decode` raises exactly one error type, `EventValidationError`, whatever is wrong with the bytes,
so a consumer has one `except` and the DLQ record always names a kind, a field and the problem.
"""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails, from_json

from hitl_runtime.limits import event_bytes
from hitl_schemas import DEFAULT_LIMITS, ErrorInfo, Event, Limits
from hitl_schemas.events import ErrorKind

E = TypeVar("E", bound=Event)

# When several things are wrong, report the one an operator must fix first.
_PRIORITY: tuple[ErrorKind, ...] = ("invalid_json", "unknown_version", "oversized", "schema")


class EventValidationError(ValueError):
    """A payload that is not a valid event: what kind of problem, in which field, and why."""

    def __init__(self, kind: ErrorKind, message: str, field: str | None = None) -> None:
        super().__init__(f"{kind}: {field + ': ' if field else ''}{message}")
        self.kind: ErrorKind = kind
        self.field = field
        self.message = message

    def info(self) -> ErrorInfo:
        # Both are cut to the contract's 2,000 characters: a field path holds the names of the
        # payload's own keys (an unknown one can be any length), and the dead letter must be valid.
        field = None if self.field is None else self.field[:2000]
        return ErrorInfo(kind=self.kind, field=field, message=self.message[:2000])


def encode(event: Event) -> bytes:
    return event.model_dump_json().encode()


def decode(model: type[E], data: bytes | None, limits: Limits = DEFAULT_LIMITS) -> E:
    """Parse and validate one event, or raise EventValidationError."""
    if not data:
        raise EventValidationError("invalid_json", "empty payload; expected a JSON object")
    # A Draft is held to HITL_MAX_MESSAGE_BYTES; an event that carries one may be larger.
    size_limit = event_bytes(model, limits.max_message_bytes)
    if len(data) > size_limit:
        raise EventValidationError(
            "oversized",
            f"payload is {len(data)} bytes, over the limit of {size_limit} for a "
            f"{model.__name__} (from HITL_MAX_MESSAGE_BYTES)",
        )
    try:
        event = model.model_validate_json(data, context={"limits": limits})
    except ValidationError as exc:
        raise from_validation_error(model, exc) from None
    if _NON_FINITE.search(data):
        _reject_non_finite(data)
    return event


# NaN and Infinity are not JSON (RFC 8259), but the parser accepts them; pydantic then writes
# them as null, so a record read here would become one the next service cannot read (a draft
# with -Infinity among its token log-probs would be scored, then dead-lettered by the router, on
# no topic of its own). Only a valid payload holding one of the words is parsed again, strictly.
_NON_FINITE = re.compile(rb"NaN|Infinity")


def _reject_non_finite(data: bytes) -> None:
    try:
        from_json(data, allow_inf_nan=False)
    except ValueError as exc:
        raise EventValidationError(
            "invalid_json", f"Invalid JSON: NaN and Infinity are not JSON numbers ({exc})"
        ) from None


def from_validation_error(model: type[Event], exc: ValidationError) -> EventValidationError:
    errors = exc.errors(include_url=False, include_input=False)
    kinds = [(_kind_of(err), err) for err in errors]
    kind, first = min(kinds, key=lambda pair: _PRIORITY.index(pair[0]))
    field = ".".join(str(p) for p in first["loc"]) or None
    message = first["msg"]
    if first["type"] == "model_type":
        message = f"expected a JSON object for {model.__name__}"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return EventValidationError(kind, message, field)


def _kind_of(err: ErrorDetails) -> ErrorKind:
    kind = err["type"]
    if kind in ("json_invalid", "json_type"):
        return "invalid_json"
    if kind == "unknown_version":
        return "unknown_version"
    if kind == "oversized":
        return "oversized"
    return "schema"
