"""Pieces every event shares: the base model, the schema version check and size limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1
"""The one wire version this build writes and reads. Bump it with a migration note in README."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits for one event, passed as pydantic validation context.

    Defaults fit an LLM reply or a long contract clause with its sources; operators change them
    with HITL_MAX_* settings. The byte limit is checked before parsing so a huge payload costs
    nothing to refuse.
    """

    max_message_bytes: int = 1_048_576
    max_text_chars: int = 50_000
    max_context_chars: int = 400_000


DEFAULT_LIMITS = Limits()


def limits_from(info: ValidationInfo) -> Limits:
    ctx: Any = info.context
    if isinstance(ctx, Limits):
        return ctx
    if isinstance(ctx, dict) and isinstance(ctx.get("limits"), Limits):
        limit: Limits = ctx["limits"]
        return limit
    return DEFAULT_LIMITS


def _known_version(value: int) -> int:
    if value != SCHEMA_VERSION:
        raise PydanticCustomError(
            "unknown_version",
            "unknown schema_version {got}; this build reads version {want}",
            {"got": value, "want": SCHEMA_VERSION},
        )
    return value


SchemaVersion = Annotated[int, AfterValidator(_known_version)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Identifier = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]
ContentType = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
ShortText = Annotated[str, Field(max_length=2_000)]


class Event(BaseModel):
    """Base of every top-level event: strict about unknown fields, carries schema_version."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    schema_version: SchemaVersion = SCHEMA_VERSION


class Part(BaseModel):
    """Base of nested parts of an event."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_text_size(value: str, info: ValidationInfo) -> str:
    limit = limits_from(info).max_text_chars
    if len(value) > limit:
        raise PydanticCustomError(
            "oversized",
            "text has {size} characters, over the limit of {limit} (HITL_MAX_TEXT_CHARS)",
            {"size": len(value), "limit": limit},
        )
    return value
