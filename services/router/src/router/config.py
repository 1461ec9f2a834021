"""Router settings: the shared ones plus what the router alone needs (HITL_ prefix)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from hitl_runtime.settings import ServiceSettings, load_settings


class RouterSettings(ServiceSettings):
    signs: ClassVar[str | None] = "router-thresholds"
    verifies: ClassVar[tuple[str, ...]] = ("decisions", "router-thresholds")
    service_name: str = Field(default="router", pattern=r"^[a-z][a-z0-9-]*$")
    metrics_port: int = Field(default=9402, ge=0, le=65535, description="a port, 0 to disable")
    policy_file: Path = Field(
        default=Path("policy/default.yaml"), description="the path of the policy YAML file"
    )
    app_id: str = Field(
        default="hitl-router",
        pattern=r"^[a-z][a-z0-9-]*$",
        description="the faust app id: consumer group and prefix of the router's own topics",
    )
    processing_guarantee: Literal["exactly_once", "at_least_once"] = Field(
        default="exactly_once", description="exactly_once or at_least_once"
    )
    internal_partitions: int = Field(
        default=6,
        ge=1,
        le=256,
        description="partitions of the router's repartition and changelog topics (1-256)",
    )
    recertify_every: int = Field(
        default=25, ge=1, le=10_000, description="decisions per content type between certifications"
    )
    audit_seed: str = Field(
        default="hitl-audit",
        min_length=1,
        description="the seed of hash-based audit sampling (a new seed draws a new sample)",
    )
    instance_id: str | None = Field(
        default=None,
        min_length=1,
        description="an id stable across restarts of one replica (default: hitl-router-<host>)",
    )
    dedupe_window: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description="records per scored partition whose draft ids the route stage remembers, to "
        "route a draft published twice once (0 to turn it off)",
    )
    batch_size: int = Field(default=500, ge=1, le=10_000, description="a number from 1 to 10000")
    data_dir: Path = Field(
        default=Path(".local/router"), description="a writable directory for the faust worker"
    )

    @property
    def effective_instance_id(self) -> str:
        return self.instance_id or f"hitl-router-{socket.gethostname()}"


def load(**overrides: Any) -> RouterSettings:
    return load_settings(RouterSettings, **overrides)
