"""The feedback service's Prometheus metrics (`hitl_feedback_` prefix, base units)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from feedback.evaluation import Evaluation
from hitl_schemas import ModelVersion

RunOutcome = Literal["published", "not_better", "too_little_data", "failed"]

EXAMPLES = Counter(
    "hitl_feedback_examples_total",
    "FeedbackExamples emitted, by content type and verdict.",
    ["content_type", "verdict"],
)
RETRAIN_RUNS = Counter(
    "hitl_feedback_retrain_runs_total",
    "Automatic retraining runs, by outcome.",
    ["outcome"],
)
RETRAIN_SECONDS = Histogram(
    "hitl_feedback_retrain_duration_seconds",
    "Time of one retraining run: reading the window, fitting, evaluating, publishing.",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
EXAMPLES_SINCE_RETRAIN = Gauge(
    "hitl_feedback_examples_since_retrain",
    "FeedbackExamples committed by this replica since its last retraining run started.",
)
LAST_PUBLISHED = Gauge(
    "hitl_feedback_model_last_published_timestamp_seconds",
    "Unix time the serving trained model was published (0: only the prior has served).",
)
_HELD_OUT = "on the newest held-out slice of the last retraining run, per model"
LOG_LOSS = Gauge("hitl_feedback_model_log_loss", f"Log-loss {_HELD_OUT}.", ["model"])
AUC = Gauge("hitl_feedback_model_auc", f"ROC AUC {_HELD_OUT}.", ["model"])
ECE = Gauge("hitl_feedback_model_ece", f"Expected calibration error {_HELD_OUT}.", ["model"])
REVIEW_RATE = Gauge(
    "hitl_feedback_model_review_rate_at_target_ratio",
    f"Share of traffic reviewed at the content type's target escape rate {_HELD_OUT}.",
    ["model", "content_type"],
)

for _outcome in ("published", "not_better", "too_little_data", "failed"):
    RETRAIN_RUNS.labels(outcome=_outcome)  # every outcome exported from the start, at 0


def observe_evaluation(model: Literal["candidate", "serving"], evaluation: Evaluation) -> None:
    LOG_LOSS.labels(model=model).set(evaluation.log_loss)
    ECE.labels(model=model).set(evaluation.ece)
    if evaluation.auc is not None:
        AUC.labels(model=model).set(evaluation.auc)
    for content_type, t in evaluation.by_type.items():
        REVIEW_RATE.labels(model=model, content_type=content_type).set(t.review_rate)


def observe_serving(version: ModelVersion | None) -> None:
    """`version`: the newest valid model on `scorer-models` (the one the scorer serves), None
    when there is none and the prior serves, which nobody published."""
    if version is not None:
        LAST_PUBLISHED.set(version.created_at.timestamp())
