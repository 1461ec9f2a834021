"""The event contract: one pydantic model per topic value (see DESIGN.md, "The flow").

Events nest rather than reference: a ScoredDraft holds its Draft, a RoutedDraft holds the
Draft and its Score, a Decision holds all of it, so any consumer can act on one record alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic_core import PydanticCustomError

from hitl_schemas.common import (
    ContentType,
    Event,
    Identifier,
    Part,
    Probability,
    ShortText,
    check_text_size,
    limits_from,
)

# --- Draft -------------------------------------------------------------------------------------


class SourceDocument(Part):
    """Material the draft must be grounded in: a policy page, a contract, an order record."""

    source_id: Identifier
    title: ShortText = ""
    text: str
    uri: ShortText | None = None


class DraftContext(Part):
    """What the draft answers (the prompt or customer message) and what it may rely on."""

    prompt: str = ""
    customer_message: str | None = None
    sources: list[SourceDocument] = Field(default_factory=list, max_length=100)

    def total_chars(self) -> int:
        return (
            len(self.prompt)
            + len(self.customer_message or "")
            + sum(len(s.text) + len(s.title) for s in self.sources)
        )


class ProducerInfo(Part):
    """The LLM application that wrote the draft, and its own confidence when it has one."""

    app: Identifier
    model: ShortText
    model_version: ShortText = ""
    confidence: Probability | None = None
    token_logprobs: list[Annotated[float, Field(le=0.0)]] | None = Field(
        default=None, max_length=100_000
    )


MetadataValue = str | int | float | bool | None


class Draft(Event):
    """An AI-written draft published by a producer to `drafts`."""

    draft_id: Identifier
    tenant: Identifier
    content_type: ContentType
    text: str
    context: DraftContext = Field(default_factory=DraftContext)
    producer: ProducerInfo
    parent_draft_id: Identifier | None = None
    metadata: dict[Annotated[str, Field(max_length=128)], MetadataValue] = Field(
        default_factory=dict, max_length=64
    )
    created_at: AwareDatetime

    @field_validator("text")
    @classmethod
    def _text_within_limit(cls, value: str, info: ValidationInfo) -> str:
        return check_text_size(value, info)

    @field_validator("context")
    @classmethod
    def _context_within_limit(cls, value: DraftContext, info: ValidationInfo) -> DraftContext:
        limit = limits_from(info).max_context_chars
        size = value.total_chars()
        if size > limit:
            raise PydanticCustomError(
                "oversized",
                "context has {size} characters, over the limit of {limit} (HITL_MAX_CONTEXT_CHARS)",
                {"size": size, "limit": limit},
            )
        return value


# --- Scoring -----------------------------------------------------------------------------------


class Span(Part):
    """A flagged stretch of the draft text, [start, end) in characters, with why."""

    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]
    label: ShortText


class Signal(Part):
    """One signal's verdict on a draft. A failed signal is reported, not hidden."""

    name: Identifier
    value: float
    spans: list[Span] = Field(default_factory=list)
    spans_omitted: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Flagged spans left out of `spans` to bound the event's size (the scorer "
        "keeps the first ones by position; a stage whose output would pass the size limit "
        "keeps none). `value` counts them all.",
    )
    failed: bool = False
    error: ShortText | None = None
    details: dict[str, JsonValue] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _omit_zero_count(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Written only when spans were left out: an event with every span is byte for byte what
        # the previous release wrote, so readers not yet upgraded (extra="forbid") still read it.
        data: dict[str, Any] = handler(self)
        if not self.spans_omitted:
            data.pop("spans_omitted", None)
        return data


class Score(Part):
    """The scorer's view of a draft: calibrated P(a human approves it unchanged)."""

    confidence: Probability
    signals: list[Signal]
    model_name: Identifier
    model_version: ShortText
    scored_at: AwareDatetime


class ScoredDraft(Event):
    """Written by the scorer to `scored`."""

    draft: Draft
    score: Score


# --- Routing -----------------------------------------------------------------------------------

Route = Literal["auto_approved", "needs_review"]
RouteReasonKind = Literal[
    "above_threshold",
    "low_confidence",
    "hard_rule",
    "audit",
    "unknown_content_type",
    "review_all",
    "signal_failed",  # a signal failed on the draft and the policy says review (on_signal_failure)
]
Priority = Literal["low", "normal", "high", "urgent"]
Tier = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class RouteReason(Part):
    kind: RouteReasonKind
    rule: ShortText | None = None
    detail: ShortText = ""


AuditPhase = Literal["explore", "monitor"]


def without_exploring(data: dict[str, Any]) -> dict[str, Any]:
    """`audit_phase` is written only when it is "monitor": an event in the explore phase is byte
    for byte what the previous release wrote, so readers not yet upgraded (extra="forbid") still
    read it; a missing field reads back as "explore"."""
    if data.get("audit_phase") == "explore":
        data.pop("audit_phase")
    return data


class RoutedDraft(Event):
    """Written by the router to `auto-approved` or `needs-review`."""

    draft: Draft
    score: Score
    route: Route
    reason: RouteReason
    threshold: Probability
    threshold_version: Annotated[int, Field(ge=0)]
    audit: bool = False
    audit_q: Probability = Field(
        description="Probability with which this item was sampled for audit (1 when not audited "
        "but reviewed; used as the inverse-probability weight of its verdict)."
    )
    audit_phase: AuditPhase = Field(
        default="explore",
        description="The type's audit design when this draft was routed: 'explore' (audits at "
        "the policy's floor and near the threshold) or 'monitor' (a lighter uniform rate). It "
        "fixes the bets its verdict is counted with in the router's certificate.",
    )
    tier: Tier
    priority: Priority
    due_at: AwareDatetime
    routed_at: AwareDatetime

    @model_serializer(mode="wrap")
    def _omit_explore(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_exploring(handler(self))


# --- Decisions ---------------------------------------------------------------------------------

Verdict = Literal["approve", "reject", "edit"]


class Escalation(Part):
    from_tier: Tier
    to_tier: Tier
    reason: ShortText
    at: AwareDatetime


class RoutingSnapshot(Part):
    """What the router decided, carried on the decision so the router can learn from it alone."""

    confidence: Probability
    threshold: Probability
    threshold_version: Annotated[int, Field(ge=0)]
    reason: RouteReasonKind
    audit: bool
    audit_q: Probability
    audit_phase: AuditPhase = "explore"
    model_version: ShortText
    routed_at: AwareDatetime | None = Field(
        default=None,
        description="When the router routed the draft: places its verdict in the routing order "
        "the router's certificate is fed in. A decision without it teaches the certificate "
        "nothing.",
    )

    @model_serializer(mode="wrap")
    def _omit_explore(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_exploring(handler(self))

    @classmethod
    def of(cls, routed: RoutedDraft) -> RoutingSnapshot:
        """What a decision on this routed draft carries back to the router."""
        return cls(
            confidence=routed.score.confidence,
            threshold=routed.threshold,
            threshold_version=routed.threshold_version,
            reason=routed.reason.kind,
            audit=routed.audit,
            audit_q=routed.audit_q,
            audit_phase=routed.audit_phase,
            model_version=routed.score.model_version,
            routed_at=routed.routed_at,
        )


class Decision(Event):
    """The final human (or SLA fallback) decision on a reviewed draft, on `decisions`."""

    decision_id: Identifier
    draft_id: Identifier
    tenant: Identifier
    content_type: ContentType
    verdict: Verdict
    final_text: str | None = Field(
        default=None, description="The text that may be sent: the draft, or the human edit."
    )
    reason_codes: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list)
    note: ShortText = ""
    reviewer_ids: list[Identifier] = Field(
        default_factory=list, description="Pseudonymous reviewer ids, never names or emails."
    )
    reviewer_tier: Tier
    reviewers: Annotated[int, Field(ge=0)] = 1
    escalations: list[Escalation] = Field(default_factory=list)
    fallback_applied: bool = False
    draft: Draft
    score: Score
    routing: RoutingSnapshot
    decided_at: AwareDatetime

    @field_validator("final_text")
    @classmethod
    def _final_text_within_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_text_size(value, info)


# --- Feedback and models -----------------------------------------------------------------------


class Lineage(Part):
    topic: ShortText
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]


class FeedbackExample(Event):
    """One training example per final decision, on `retraining-feedback`."""

    draft_id: Identifier
    tenant: Identifier
    content_type: ContentType
    draft: Draft
    final_text: str | None
    verdict: Verdict
    reason_codes: list[str] = Field(default_factory=list)
    edit_chars: Annotated[int, Field(ge=0)]
    edit_tokens: Annotated[int, Field(ge=0)]
    is_error: bool = Field(description="Reject, or an edit above the type's trivial-edit bound.")
    score: Score
    routing: RoutingSnapshot
    reviewer_tier: Tier
    lineage: Lineage
    decided_at: AwareDatetime
    emitted_at: AwareDatetime


class Evidence(Part):
    """The human verdicts behind a threshold, since its certificate's start."""

    items: Annotated[float, Field(ge=0.0)]
    errors: Annotated[float, Field(ge=0.0)]
    audits: Annotated[float, Field(ge=0.0)]
    audit_errors: Annotated[float, Field(ge=0.0)]


ThresholdMode = Literal["default", "certified", "drift_tightened", "review_all"]


class ThresholdState(Event):
    """A content type's current auto-approve threshold, on compacted `router-thresholds`."""

    content_type: ContentType
    threshold: Probability
    version: Annotated[int, Field(ge=0)]
    mode: ThresholdMode
    target_escape_rate: Probability
    delta: Probability
    escape_estimate: Probability | None = None
    escape_upper_bound: Probability | None = None
    evidence: Evidence
    audit_boost: bool = Field(
        default=False, description="Audits are drawn at a raised rate (after a drift alarm)."
    )
    audit_phase: AuditPhase = Field(
        default="explore",
        description="'monitor' once no looser threshold is worth exploring: audits at the "
        "policy's lighter uniform monitor rate instead of its floor and near-threshold ramp.",
    )
    reason: ShortText
    updated_at: AwareDatetime

    @model_serializer(mode="wrap")
    def _omit_explore(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_exploring(handler(self))


class ModelVersion(Event):
    """A scorer combiner model, on compacted `scorer-models` (key: model name)."""

    name: Identifier
    version: ShortText
    kind: Identifier = Field(description="How `parameters` is read, e.g. 'logistic-v1'.")
    feature_names: list[str]
    parameters: dict[str, JsonValue]
    evaluation: dict[str, float] = Field(default_factory=dict)
    trained_on_examples: Annotated[int, Field(ge=0)] = 0
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    created_at: AwareDatetime


# --- Dead letters ------------------------------------------------------------------------------

# output_too_large: a valid record whose output cannot be produced within the size limit, even
# after dropping what can be dropped honestly (hitl_runtime.limits); the input is dead-lettered.
ErrorKind = Literal[
    "invalid_json",
    "schema",
    "unknown_version",
    "oversized",
    "processing",
    "unverified",
    "output_too_large",
]


class ErrorInfo(Part):
    kind: ErrorKind
    field: ShortText | None = None
    message: ShortText


class DeadLetter(Event):
    """A record a consumer could not process, with the original bytes and the reason."""

    original_topic: ShortText
    original_partition: Annotated[int, Field(ge=0)]
    original_offset: Annotated[int, Field(ge=0)]
    original_key_b64: str | None = None
    original_value_b64: str | None = None
    original_headers: list[tuple[str, str | None]] = Field(
        default_factory=list, description="Header names and base64 values."
    )
    error: ErrorInfo
    service: Identifier
    failed_at: datetime
