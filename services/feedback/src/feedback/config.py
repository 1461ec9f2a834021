"""Feedback settings: the shared ones plus what the feedback service alone needs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import Field

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

    @property
    def effective_instance_id(self) -> str:
        return self.instance_id or f"hitl-feedback-{socket.gethostname()}"


def load(**overrides: Any) -> FeedbackSettings:
    return load_settings(FeedbackSettings, **overrides)
