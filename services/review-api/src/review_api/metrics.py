"""review-api Prometheus metrics (shared ones live in hitl_runtime.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

QUEUE_DEPTH = Gauge(
    "hitl_review_queue_depth", "Items waiting for a verdict.", ["tier", "content_type"]
)
OLDEST_ITEM_AGE = Gauge(
    "hitl_review_oldest_item_age_seconds",
    "Age of the oldest waiting item.",
    ["tier", "content_type"],
)
OVERDUE = Gauge("hitl_review_overdue_items", "Waiting items past their SLA deadline.")
SLA_BREACHES = Counter(
    "hitl_review_sla_breaches_total",
    "SLA breaches handled by the sweeper, by what was done.",
    ["action"],
)
# Exported at 0 from the start: increase() cannot see a series' first breach otherwise, since
# the series would appear already at 1.
for _action in ("escalated", "rejected", "kept_waiting"):
    SLA_BREACHES.labels(_action)
DECISIONS = Counter(
    "hitl_review_decisions_total",
    "Final decisions, by content type and verdict.",
    ["content_type", "verdict"],
)
CLAIMS = Counter("hitl_review_claims_total", "Items claimed.")
TIME_PER_ITEM = Histogram(
    "hitl_review_time_per_item_seconds",
    "Time from claim to verdict.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 3600),
)
OUTBOX_UNSENT = Gauge("hitl_review_outbox_unsent", "Decisions stored but not yet on Kafka.")
AUTH_THROTTLED = Counter(
    "hitl_review_auth_throttled_total",
    "Requests refused with 429 because their client sent too many refused credentials.",
)
