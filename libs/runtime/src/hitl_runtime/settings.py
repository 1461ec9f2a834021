"""Settings every service shares, read from HITL_* environment variables.

Services subclass `ServiceSettings` and build it with `load_settings` in their entry point, never
at import. A wrong value stops the service with one line per bad setting naming the variable,
what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hitl_schemas import Limits

_BOOTSTRAP = re.compile(r"^[A-Za-z0-9._\[\]:-]+:\d{1,5}$")

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class ServiceSettings(BaseSettings):
    """Kafka connection, topic naming, limits, logging and metrics. HITL_ prefix on each."""

    model_config = SettingsConfigDict(env_prefix="HITL_", extra="ignore", frozen=True)

    service_name: str = Field(
        default="hitl",
        pattern=r"^[a-z][a-z0-9-]*$",
        description="name used in logs, metrics and CloudEvents source, e.g. scorer",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="a comma-separated host:port list of brokers, e.g. kafka-0:9092,kafka-1:9092",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (mount it from a secret)"
    )
    kafka_ssl_ca_location: str | None = Field(
        default=None, description="path of the CA bundle that signed the brokers' certificates"
    )
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prefix put before every topic name, e.g. prod. (letters, digits, . _ -)",
    )
    max_message_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=16_777_216,
        description="largest event accepted, in bytes (1024 to 16777216)",
    )
    max_text_chars: int = Field(
        default=50_000,
        ge=100,
        le=5_000_000,
        description="longest draft text accepted, in characters (100 to 5000000)",
    )
    max_context_chars: int = Field(
        default=400_000,
        ge=100,
        le=10_000_000,
        description="longest draft context (prompt and sources) accepted, in characters",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR"
    )
    log_format: Literal["json", "text"] = Field(default="json", description="json or text")
    stage_stall_seconds: float = Field(
        default=60.0,
        ge=5.0,
        le=3600.0,
        description="seconds a stage may make no progress while the broker answers before the "
        "process exits for its supervisor to restart it (5 to 3600)",
    )
    metrics_port: int = Field(
        default=9400,
        ge=0,
        le=65535,
        description="port of the Prometheus /metrics endpoint; 0 turns it off",
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_list(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(_BOOTSTRAP.match(p) for p in parts):
            raise ValueError(f"{value!r} is not a host:port list")
        return ",".join(parts)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _sasl_complete(self) -> ServiceSettings:
        if self.kafka_security_protocol.startswith("SASL_"):
            if self.kafka_sasl_mechanism is None:
                raise ValueError(
                    "kafka_sasl_mechanism is required when kafka_security_protocol is "
                    f"{self.kafka_security_protocol}"
                )
            needs_password = self.kafka_sasl_mechanism != "OAUTHBEARER"
            if needs_password and (not self.kafka_sasl_username or not self.kafka_sasl_password):
                raise ValueError(
                    "kafka_sasl_username and kafka_sasl_password are required with "
                    f"kafka_sasl_mechanism {self.kafka_sasl_mechanism}"
                )
        return self

    def scoped(self, name: str) -> str:
        """A consumer group or transactional id under the topic prefix. Both are cluster-wide:
        two deployments sharing a cluster under different prefixes must not share (or fence)
        each other's groups and producers."""
        return f"{self.topic_prefix}{name}"

    @property
    def limits(self) -> Limits:
        return Limits(
            max_message_bytes=self.max_message_bytes,
            max_text_chars=self.max_text_chars,
            max_context_chars=self.max_context_chars,
        )


class SettingsError(Exception):
    """Raised at start when settings are wrong; str() is meant for the operator."""


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment (and overrides, for tests), or explain what is wrong."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(explain(cls, exc)) from None


def explain(cls: type[ServiceSettings], exc: ValidationError) -> str:
    lines = [f"invalid settings for {cls.__name__}:"]
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else ""
        field = cls.model_fields.get(name)
        env = f"HITL_{name.upper()}" if name else "HITL_* settings"
        hint = f" Fix: set {env} to {field.description}." if field and field.description else ""
        lines.append(f"  {env}: {err['msg']}.{hint}")
    return "\n".join(lines)
