"""Scorer settings: the shared ones plus what the scorer alone needs (HITL_ prefix)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from hitl_runtime.settings import ServiceSettings, load_settings
from scorer.scoring import MAX_SPANS_PER_SIGNAL


class ScorerSettings(ServiceSettings):
    verifies: ClassVar[tuple[str, ...]] = ("scorer-models",)  # forged models score every draft
    service_name: str = Field(default="scorer", pattern=r"^[a-z][a-z0-9-]*$")
    metrics_port: int = Field(default=9401, ge=0, le=65535, description="a port, 0 to disable")
    policy_file: Path = Field(
        default=Path("policy/default.yaml"), description="the path of the policy YAML file"
    )
    group_id: str = Field(
        default="hitl-scorer", min_length=1, description="the consumer group shared by replicas"
    )
    transactional_id: str | None = Field(
        default=None,
        min_length=1,
        description="an id stable across restarts of one replica (default: hitl-scorer-<host>)",
    )
    batch_size: int = Field(default=500, ge=1, le=10_000, description="a number from 1 to 10000")
    batch_timeout_ms: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="milliseconds an idle scorer waits for a first draft (1-10000); a batch is "
        "what has arrived, never a wait for a full one",
    )
    model_name: str = Field(
        default="combiner", min_length=1, description="the key of the model on scorer-models"
    )
    model_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="seconds to wait at start for the newest model on scorer-models (0-300)",
    )
    max_spans_per_signal: int = Field(
        default=MAX_SPANS_PER_SIGNAL,
        ge=0,
        le=10_000,
        description="flagged spans kept per signal on a scored draft, the rest only counted "
        "(0 to 10000)",
    )

    @property
    def effective_transactional_id(self) -> str:
        return self.transactional_id or f"hitl-scorer-{socket.gethostname()}"


def load(**overrides: Any) -> ScorerSettings:
    return load_settings(ScorerSettings, **overrides)
