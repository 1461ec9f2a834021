"""Request and response bodies of the HTTP API (the event contract lives in hitl_schemas)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from hitl_schemas import RoutedDraft
from review_api.limits import NUL_NOT_ALLOWED


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; everything stored is UTC, and the API says so (RFC 3339).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for part in value:
            yield from _strings(part)


class _Body(BaseModel):
    """A request body: no unknown fields, and no NUL in any text (limits.RefuseNul says why)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def no_nul(cls, value: Any) -> Any:
        if any("\x00" in text for text in _strings(value)):
            raise ValueError(NUL_NOT_ALLOWED)
        return value


class ItemSummary(BaseModel):
    draft_id: str
    content_type: str
    tenant: str
    tier: str
    priority: str
    status: str
    due_at: UtcDatetime
    overdue: bool
    confidence: float
    reason: str
    lease_holder: str | None
    lease_expires_at: UtcDatetime | None


class ItemDetail(ItemSummary):
    routed: RoutedDraft
    checklist: list[str]
    reason_codes: list[str]
    suggested_action: Literal["approve", "edit", "reject"]
    escalations: list[dict[str, Any]]


class QueuePage(BaseModel):
    items: list[ItemSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class DecideBody(_Body):
    verdict: Literal["approve", "reject", "edit"]
    final_text: str | None = Field(default=None, description="Required for an edit, else absent.")
    # As long as the decision event allows: an unknown content type has no list to check against.
    reason_codes: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    note: str = Field(default="", max_length=2000)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"verdict": "approve"},
                {
                    "verdict": "edit",
                    "final_text": "Hi Dana, your order shipped on 3 November.",
                    "reason_codes": ["wrong_date"],
                    "note": "fixed the date",
                },
            ]
        },
    )


class EditCheckBody(_Body):
    final_text: str = Field(description="The edited text, as the reviewer would send it.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"final_text": "Your refund of $70.00 is on its way."}]},
    )


class EscalateBody(_Body):
    reason: Literal["unsure", "policy_question"]
    note: str = Field(default="", max_length=2000)


class DecisionOut(BaseModel):
    draft_id: str
    decision_id: str | None = Field(description="Set once the decision is final.")
    verdict: str
    status: Literal["decided", "awaiting_second_review", "escalated"] = Field(
        description="Two-approval types wait for a second, independent reviewer; when the two "
        "disagree the item goes to the next tier."
    )


class ReviewerCreate(_Body):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Pseudonymous id.")
    display_name: str = Field(min_length=1, max_length=256)
    role: Literal["reviewer", "lead", "admin"]
    tier: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    content_types: list[str] | None = None


class KeyOut(BaseModel):
    reviewer_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")


class AuditOut(BaseModel):
    at: UtcDatetime
    actor: str
    action: str
    draft_id: str | None
    detail: dict[str, Any]


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


class InvalidRequest(BaseModel):
    """A body, parameter or header that is not valid: the list of FastAPI's validation errors,
    or a sentence naming the field when a rule of the service refuses a valid-looking value."""

    detail: str | list[dict[str, Any]]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: str = Field(description="ok, or the error's type")
    kafka: str = Field(description="ok, or the error's type (it does not fail readiness)")


_REASONS = {
    401: "No credentials, or an unknown, revoked or invalid API key or token",
    403: "Your role, tier or content types do not allow it, or you do not hold the lease",
    404: "No such item or reviewer",
    409: "The item is claimed by someone else, already decided, or the lease expired",
    413: "The request body is over the limit (HITL_MAX_REQUEST_BYTES)",
    422: "The request is not valid; the detail names the field",
    429: "Too many refused API keys or tokens from your address; retry after Retry-After seconds",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route can give, each with its body's schema. A
    route that authenticates (401) can also throttle its caller (429)."""
    if 401 in statuses:
        statuses = (*statuses, 429)
    return {
        status: {
            "model": InvalidRequest if status == 422 else Problem,
            "description": _REASONS[status],
        }
        for status in statuses
    }
