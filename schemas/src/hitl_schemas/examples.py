"""Small, valid example events: documentation that is checked, and a base for test factories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hitl_schemas.events import (
    DeadLetter,
    Decision,
    Draft,
    DraftContext,
    ErrorInfo,
    Evidence,
    FeedbackExample,
    Lineage,
    ModelVersion,
    ProducerInfo,
    RoutedDraft,
    RouteReason,
    RoutingSnapshot,
    Score,
    ScoredDraft,
    Signal,
    SourceDocument,
    Span,
    ThresholdState,
)

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def draft(**overrides: Any) -> Draft:
    fields: dict[str, Any] = {
        "draft_id": "d-0001",
        "tenant": "acme",
        "content_type": "customer_email",
        "text": (
            "Hi Dana, thanks for your patience. Your order #4821 shipped on 3 November and "
            "should arrive within 5 business days. Under section 4.2 of our returns policy you "
            "can return it within 30 days for a full refund."
        ),
        "context": DraftContext(
            prompt="Reply to the customer about their late order.",
            customer_message="Where is my order #4821? It is late.",
            sources=[
                SourceDocument(
                    source_id="policy-returns",
                    title="Returns policy",
                    text="4.2 Items may be returned within 30 days of delivery for a full refund.",
                ),
                SourceDocument(
                    source_id="order-4821",
                    title="Order record",
                    text="Order 4821 shipped 3 November. Carrier estimate: 5 business days.",
                ),
            ],
        ),
        "producer": ProducerInfo(
            app="support-assistant", model="gpt-x", model_version="2026-10", confidence=0.91
        ),
        "metadata": {"channel": "email", "locale": "en-GB"},
        "created_at": T0,
    }
    fields.update(overrides)
    return Draft(**fields)


def score(**overrides: Any) -> Score:
    fields: dict[str, Any] = {
        "confidence": 0.93,
        "signals": [
            Signal(name="pii", value=0.0),
            Signal(
                name="grounding",
                value=0.0,
                spans=[Span(start=106, end=117, label="clause 4.2 found in policy-returns")],
                details={"claims": 3, "unsupported": 0},
            ),
        ],
        "model_name": "combiner",
        "model_version": "prior-1",
        "scored_at": T0 + timedelta(milliseconds=40),
    }
    fields.update(overrides)
    return Score(**fields)


def scored_draft(**overrides: Any) -> ScoredDraft:
    return ScoredDraft(**({"draft": draft(), "score": score()} | overrides))


def routed_draft(**overrides: Any) -> RoutedDraft:
    fields: dict[str, Any] = {
        "draft": draft(),
        "score": score(),
        "route": "needs_review",
        "reason": RouteReason(kind="audit", detail="audit sample above threshold 0.88"),
        "threshold": 0.88,
        "threshold_version": 3,
        "audit": True,
        "audit_q": 0.05,
        "tier": "junior",
        "priority": "normal",
        "due_at": T0 + timedelta(hours=4),
        "routed_at": T0 + timedelta(milliseconds=55),
    }
    fields.update(overrides)
    return RoutedDraft(**fields)


def routing_snapshot() -> RoutingSnapshot:
    return RoutingSnapshot(
        confidence=0.93,
        threshold=0.88,
        threshold_version=3,
        reason="audit",
        audit=True,
        audit_q=0.05,
        model_version="prior-1",
        routed_at=T0 + timedelta(milliseconds=55),
    )


def decision(**overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "decision_id": "dec-0001",
        "draft_id": "d-0001",
        "tenant": "acme",
        "content_type": "customer_email",
        "verdict": "edit",
        "final_text": "Hi Dana, your order #4821 shipped on 3 November.",
        "reason_codes": ["too_long"],
        "note": "",
        "reviewer_ids": ["rv-7f3a"],
        "reviewer_tier": "junior",
        "draft": draft(),
        "score": score(),
        "routing": routing_snapshot(),
        "decided_at": T0 + timedelta(minutes=12),
    }
    fields.update(overrides)
    return Decision(**fields)


def feedback_example(**overrides: Any) -> FeedbackExample:
    fields: dict[str, Any] = {
        "draft_id": "d-0001",
        "tenant": "acme",
        "content_type": "customer_email",
        "draft": draft(),
        "final_text": "Hi Dana, your order #4821 shipped on 3 November.",
        "verdict": "edit",
        "reason_codes": ["too_long"],
        "edit_chars": 160,
        "edit_tokens": 30,
        "is_error": True,
        "score": score(),
        "routing": routing_snapshot(),
        "reviewer_tier": "junior",
        "lineage": Lineage(topic="decisions", partition=0, offset=41),
        "decided_at": T0 + timedelta(minutes=12),
        "emitted_at": T0 + timedelta(minutes=12, seconds=1),
    }
    fields.update(overrides)
    return FeedbackExample(**fields)


def threshold_state(**overrides: Any) -> ThresholdState:
    fields: dict[str, Any] = {
        "content_type": "customer_email",
        "threshold": 0.88,
        "version": 3,
        "mode": "certified",
        "target_escape_rate": 0.02,
        "delta": 0.05,
        "escape_estimate": 0.006,
        "escape_upper_bound": 0.018,
        "evidence": Evidence(items=812.0, errors=41.0, audits=240.0, audit_errors=1.0),
        "reason": "certified on 240 audits",
        "updated_at": T0,
    }
    fields.update(overrides)
    return ThresholdState(**fields)


def model_version(**overrides: Any) -> ModelVersion:
    fields: dict[str, Any] = {
        "name": "combiner",
        "version": "prior-1",
        "kind": "logistic-v1",
        "feature_names": ["bias", "pii"],
        "parameters": {"weights": [2.0, -3.0]},
        "evaluation": {"log_loss": 0.31},
        "trained_on_examples": 0,
        "sha256": "0" * 64,
        "created_at": T0,
    }
    fields.update(overrides)
    return ModelVersion(**fields)


def dead_letter(**overrides: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "original_topic": "drafts",
        "original_partition": 0,
        "original_offset": 17,
        "original_key_b64": "ZC0wMDAx",
        "original_value_b64": "bm90IGpzb24=",
        "error": ErrorInfo(kind="invalid_json", message="Invalid JSON: expected value"),
        "service": "scorer",
        "failed_at": T0,
    }
    fields.update(overrides)
    return DeadLetter(**fields)


ALL = {
    "draft": draft,
    "scored_draft": scored_draft,
    "routed_draft": routed_draft,
    "decision": decision,
    "feedback_example": feedback_example,
    "threshold_state": threshold_state,
    "model_version": model_version,
    "dead_letter": dead_letter,
}
