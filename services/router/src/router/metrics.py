"""Router-specific Prometheus metrics (shared ones live in hitl_runtime.metrics)."""

from __future__ import annotations

from collections.abc import Container

from prometheus_client import Counter, Gauge, Histogram

from hitl_schemas import ThresholdState

ROUTED = Counter(
    "hitl_router_routed_total",
    "Drafts routed, by content type, route and reason.",
    ["content_type", "route", "reason"],
)
UNKNOWN_CONTENT_TYPE = Counter(
    "hitl_router_unknown_content_type_total", "Drafts of a content type not in the policy."
)
THRESHOLD = Gauge("hitl_router_threshold", "Serving auto-approve threshold.", ["content_type"])
ESCAPE_ESTIMATE = Gauge(
    "hitl_router_escape_rate_estimate",
    "Estimated escape rate at the serving threshold.",
    ["content_type"],
)
ESCAPE_UPPER_BOUND = Gauge(
    "hitl_router_escape_rate_upper_bound",
    "Certified upper bound on the escape rate.",
    ["content_type"],
)
ESCAPE_TARGET = Gauge("hitl_router_escape_rate_target", "Target escape rate.", ["content_type"])
AUDIT_MONITORING = Gauge(
    "hitl_router_audit_monitoring",
    "1 while the type audits at its light monitor rate, 0 while it explores.",
    ["content_type"],
)
DUPLICATE_DRAFTS = Counter(
    "hitl_router_duplicate_drafts_total",
    "Records of a draft id already routed: copy (same content, dropped) or reused (other "
    "content, dead-lettered).",
    ["seen"],
)
AUDITS = Counter("hitl_router_audits_total", "Drafts sent to review as audits.", ["content_type"])
DECISIONS_LEARNED = Counter(
    "hitl_router_decisions_learned_total", "Decisions the router learned from.", ["content_type"]
)
UNMATCHED_VERDICTS = Counter(
    "hitl_router_unmatched_verdicts_total",
    "Verdicts the certificate refused: no draft of their score bucket routed for review was "
    "waiting for one (a draft this router never routed, or a verdict learnt twice).",
    ["content_type"],
)
REFUSED_TALLIES = Counter(
    "hitl_router_refused_tallies_total",
    "Route batches' tallies the certificate refused whole: an audit in them was drawn at a "
    "lower rate than the certificate's bets allow (a route replica on other audit rates).",
    ["content_type"],
)
ROUTING_SECONDS = Histogram(
    "hitl_router_routing_seconds",
    "Time to route one draft (decode, decide, send).",
    buckets=(5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1),
)


def export_threshold(state: ThresholdState, known: Container[str]) -> None:
    """Export a type's serving threshold; not for a type outside the policy (`known`): a
    record on `router-thresholds` for a type since removed from the policy, or one nobody should
    have written, must add no series, and a gauge cannot be shared by many types like a counter
    (hitl_runtime.metrics.content_type_label)."""
    ct = state.content_type
    if ct not in known:
        return
    THRESHOLD.labels(ct).set(state.threshold)
    ESCAPE_TARGET.labels(ct).set(state.target_escape_rate)
    AUDIT_MONITORING.labels(ct).set(1.0 if state.audit_phase == "monitor" else 0.0)
    if state.escape_estimate is not None:
        ESCAPE_ESTIMATE.labels(ct).set(state.escape_estimate)
    if state.escape_upper_bound is not None:
        ESCAPE_UPPER_BOUND.labels(ct).set(state.escape_upper_bound)
