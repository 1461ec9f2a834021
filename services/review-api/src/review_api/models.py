"""Request and response bodies of the HTTP API (the event contract lives in hitl_schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hitl_schemas import RoutedDraft


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemSummary(BaseModel):
    draft_id: str
    content_type: str
    tenant: str
    tier: str
    priority: str
    status: str
    due_at: datetime
    overdue: bool
    confidence: float
    reason: str
    lease_holder: str | None
    lease_expires_at: datetime | None


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
    reason_codes: list[str] = Field(default_factory=list, max_length=20)
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
    at: datetime
    actor: str
    action: str
    draft_id: str | None
    detail: dict[str, Any]
