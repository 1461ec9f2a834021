"""Scorer-specific Prometheus metrics (shared ones live in hitl_runtime.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DRAFTS_SCORED = Counter("hitl_scorer_drafts_scored_total", "Drafts scored.", ["content_type"])
SIGNAL_SECONDS = Histogram(
    "hitl_scorer_signal_seconds",
    "Mean time per draft of one signal, per batch.",
    ["signal"],
    buckets=(1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05),
)
SIGNAL_FAILURES = Counter(
    "hitl_scorer_signal_failures_total",
    "Drafts on which a signal raised and was skipped.",
    ["signal"],
)
SCORING_SECONDS = Histogram(
    "hitl_scorer_scoring_seconds",
    "Scoring time per draft (batch time / batch size).",
    buckets=(1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.05, 0.1),
)
MODEL_INFO = Gauge("hitl_scorer_model_info", "The serving model (value 1).", ["name", "version"])
MODEL_SWAPS = Counter("hitl_scorer_model_swaps_total", "Model versions put into service.")
MODEL_REJECTED = Counter(
    "hitl_scorer_model_rejected_total", "Model versions refused (the serving one stayed)."
)
