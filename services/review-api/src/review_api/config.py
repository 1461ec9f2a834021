"""review-api settings: the shared ones plus what the review service alone needs (HITL_ prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hitl_runtime.settings import ServiceSettings, load_settings


class StoreSettings(BaseSettings):
    """The database and the policy: all the admin CLI (`create-reviewer`) reads. It publishes
    nothing, so it needs neither the Kafka settings nor the signing key the service needs."""

    model_config = SettingsConfigDict(env_prefix="HITL_", extra="ignore", frozen=True)

    policy_file: Path = Field(
        default=Path("policy/default.yaml"), description="the path of the policy YAML file"
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///.local/review-api.db",
        pattern=r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://",
        description="sqlite+aiosqlite:///path.db or postgresql+asyncpg://user:pass@host/db",
    )


class ReviewApiSettings(ServiceSettings, StoreSettings):
    signs: ClassVar[str | None] = "decisions"
    verifies: ClassVar[tuple[str, ...]] = ("router-thresholds",)
    service_name: str = Field(default="review-api", pattern=r"^[a-z][a-z0-9-]*$")
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="a port for a separate /metrics server; 0: serve /metrics from the API itself",
    )
    http_host: str = Field(default="127.0.0.1", description="the address to listen on")
    http_port: int = Field(default=8080, ge=1, le=65535, description="a port from 1 to 65535")
    lease_seconds: int = Field(
        default=600, ge=10, le=86_400, description="seconds a claim holds an item (10-86400)"
    )
    group_id: str = Field(default="hitl-review-api", min_length=1, description="a consumer group")
    database_start_seconds: float = Field(
        default=120,
        ge=0,
        le=3600,
        description="seconds to wait at start for the database to accept connections (0-3600)",
    )
    ingest: bool = Field(default=True, description="true to consume needs-review, false not to")
    sla_sweep_seconds: int = Field(
        default=30, ge=1, le=3600, description="seconds between SLA sweeps (1-3600)"
    )
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="an http(s) URL for escalation and SLA notifications",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="the HMAC-SHA256 key that signs webhook bodies"
    )
    smtp_host: str | None = Field(default=None, description="an SMTP server host for email alerts")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="the SMTP port (1-65535)")
    smtp_starttls: bool = Field(default=True, description="true to upgrade with STARTTLS")
    smtp_username: str | None = Field(default=None, description="the SMTP user, if it needs one")
    smtp_password: SecretStr | None = Field(default=None, description="the SMTP password")
    smtp_from: str = Field(default="hitl-gate@localhost", description="the sender address")
    smtp_to: str = Field(default="", description="comma-separated recipient addresses")
    oidc_jwks_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="the identity provider's JWKS URL; set it to accept OIDC/JWT bearer tokens",
    )
    oidc_issuer: str | None = Field(default=None, description="the expected `iss` of tokens")
    oidc_audience: str | None = Field(default=None, description="the expected `aud` of tokens")
    relay_interval_ms: int = Field(
        default=200, ge=10, le=60_000, description="milliseconds between outbox relay passes"
    )
    max_request_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="a number of bytes from 1024 to 67108864: the largest HTTP request body "
        "accepted (a larger one gets 413)",
    )
    auth_failures_per_minute: int = Field(
        default=30,
        ge=1,
        le=1_000_000,
        description="a number from 1 to 1000000: refused API keys or tokens a client address may "
        "send per minute (in a burst of as many); past that it gets 429 with Retry-After",
    )

    @model_validator(mode="after")
    def _oidc_complete(self) -> ReviewApiSettings:
        if self.oidc_jwks_url and not (self.oidc_issuer and self.oidc_audience):
            raise ValueError("oidc_issuer and oidc_audience are required with oidc_jwks_url")
        return self


def load(**overrides: Any) -> ReviewApiSettings:
    return load_settings(ReviewApiSettings, **overrides)


def load_store(**overrides: Any) -> StoreSettings:
    return load_settings(StoreSettings, **overrides)
