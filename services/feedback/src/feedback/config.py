"""Feedback settings: the shared ones plus what the feedback service alone needs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from hitl_runtime.settings import ServiceSettings, load_settings


class FeedbackSettings(ServiceSettings):
    service_name: str = Field(default="feedback", pattern=r"^[a-z][a-z0-9-]*$")
    metrics_port: int = Field(default=9403, ge=0, le=65535, description="a port, 0 to disable")
    policy_file: Path = Field(
        default=Path("policy/default.yaml"), description="the path of the policy YAML file"
    )
    group_id: str = Field(default="hitl-feedback", min_length=1, description="a consumer group")
    instance_id: str | None = Field(
        default=None,
        min_length=1,
        description="an id stable across restarts of one replica (default: hitl-feedback-<host>)",
    )
    batch_size: int = Field(default=500, ge=1, le=10_000, description="a number from 1 to 10000")
    retrain_enabled: bool = Field(
        default=True, description="true or false (run retraining in one replica only)"
    )
    retrain_every_examples: int = Field(
        default=2000, ge=1, description="a number of new examples, at least 1"
    )
    retrain_every_seconds: float = Field(
        default=3600.0, gt=0, description="a number of seconds, above 0"
    )
    retrain_min_examples: int = Field(
        default=1000, ge=10, description="a number of examples, at least 10"
    )
    retrain_window_examples: int = Field(
        default=50_000, ge=10, le=1_000_000, description="a number of examples, 10 to 1000000"
    )

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> FeedbackSettings:
        if self.retrain_window_examples < self.retrain_min_examples:
            raise ValueError(
                "HITL_RETRAIN_WINDOW_EXAMPLES must be at least HITL_RETRAIN_MIN_EXAMPLES, or "
                "no retraining could ever have enough data"
            )
        return self

    def signed_topic(self) -> str | None:
        # Only the replica that retrains publishes models (and so needs the private key).
        return "scorer-models" if self.retrain_enabled else None

    def verified_topics(self) -> tuple[str, ...]:
        # Retraining follows scorer-models for the serving version it must beat.
        return ("decisions", "scorer-models") if self.retrain_enabled else ("decisions",)

    @property
    def effective_instance_id(self) -> str:
        return self.instance_id or f"hitl-feedback-{socket.gethostname()}"


def load(**overrides: Any) -> FeedbackSettings:
    return load_settings(FeedbackSettings, **overrides)
