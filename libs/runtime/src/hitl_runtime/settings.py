"""Settings every service shares, read from HITL_* environment variables.

Services subclass `ServiceSettings` and build it with `load_settings` in their entry point, never
at import. A wrong value stops the service with one line per bad setting naming the variable,
what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from hitl_runtime.signing import KEY_ID, SIGNED_TOPICS, KeyFormatError, private_key, public_key
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

    # Signing (hitl_runtime.signing). Each service says which topic it signs and which it
    # verifies; a service that needs a key it was not given does not start.
    signing_key_id: str | None = Field(
        default=None,
        pattern=KEY_ID.pattern,
        description="the id of this service's active signing key, e.g. review-api-2026-07 "
        "(1-64 letters, digits, . _ -)",
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description="this service's Ed25519 private key, base64 (make one with `uv run "
        "hitl-keys new --kid <id>`; mount it from a secret)",
    )
    decisions_verify_keys: dict[str, str] = Field(
        default_factory=dict,
        description='a JSON map of key id to base64 Ed25519 public key, {"<kid>": "<key>"}: '
        "review-api's keys (the public lines `hitl-keys new` prints)",
    )
    scorer_models_verify_keys: dict[str, str] = Field(
        default_factory=dict,
        description='a JSON map of key id to base64 Ed25519 public key, {"<kid>": "<key>"}: '
        "feedback's keys",
    )
    router_thresholds_verify_keys: dict[str, str] = Field(
        default_factory=dict,
        description='a JSON map of key id to base64 Ed25519 public key, {"<kid>": "<key>"}: '
        "the router's keys",
    )
    signing_disabled: bool = Field(
        default=False,
        description="false in any shared deployment; true (INSECURE, local development only) "
        "signs nothing and accepts unsigned decisions, models and thresholds",
    )
    signs: ClassVar[str | None] = None
    verifies: ClassVar[tuple[str, ...]] = ()

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

    @field_validator("signing_key")
    @classmethod
    def _private_key_readable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                private_key(value.get_secret_value())
            except KeyFormatError as exc:
                raise ValueError(f"the key {exc}") from None
        return value

    @field_validator(*SIGNED_TOPICS.values(), mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        # Given as text (a manifest's value, an override), not only from the environment.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('not JSON: give a map {"<kid>": "<base64 key>"}') from None
        return value

    @field_validator(*SIGNED_TOPICS.values())
    @classmethod
    def _public_keys_readable(cls, value: dict[str, str]) -> dict[str, str]:
        for kid, text in value.items():
            if not KEY_ID.match(kid):
                raise ValueError(f"key id {kid[:80]!r} is not 1-64 letters, digits, . _ -")
            try:
                public_key(text)
            except KeyFormatError as exc:
                raise ValueError(f"the key of {kid!r} {exc}") from None
        return value

    def signed_topic(self) -> str | None:
        """The topic whose records this service signs (None: it signs nothing)."""
        return self.signs

    def verified_topics(self) -> tuple[str, ...]:
        """The signed topics this service reads, and so must verify."""
        return self.verifies

    @model_validator(mode="after")
    def _signing_complete(self) -> ServiceSettings:
        if (self.signing_key is None) != (self.signing_key_id is None):
            raise ValueError(
                "HITL_SIGNING_KEY and HITL_SIGNING_KEY_ID go together: set both (the key id "
                "names the key to readers) or neither"
            )
        if self.signing_disabled:
            return self
        off = "or, for local development only, set HITL_SIGNING_DISABLED=true"
        signs = self.signed_topic()
        if signs and self.signing_key is None:
            raise ValueError(
                f"HITL_SIGNING_KEY is required: {self.service_name} signs every record it writes "
                f"to {signs}. Fix: make a key pair with `uv run hitl-keys new --kid <id>`, set "
                f"HITL_SIGNING_KEY and HITL_SIGNING_KEY_ID from a secret, give the public key to "
                f"the readers of {signs}; {off}"
            )
        for name in self.verified_topics():
            setting = SIGNED_TOPICS[name]
            if not getattr(self, setting) and name != signs:  # its own key is trusted anyway
                raise ValueError(
                    f"HITL_{setting.upper()} is required: {self.service_name} reads {name} and "
                    f"accepts only records signed by a trusted key. Fix: set it to a JSON map "
                    f'{{"<kid>": "<base64 public key>"}} of the writer\'s public keys; {off}'
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


# Any settings class: a service's, or a command's that reads only part of them.
S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment (and overrides, for tests), or explain what is wrong."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(explain(cls, exc)) from None
    except SourceError as exc:  # a map or list setting whose variable is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1) if found else ""
        field = cls.model_fields.get(name)
        hint = f" Fix: set it to {field.description}." if field and field.description else ""
        env = f"HITL_{name.upper()}" if name else "a HITL_* setting"
        raise SettingsError(
            f"invalid settings for {cls.__name__}:\n  {env}: not valid JSON.{hint}"
        ) from None


def explain(cls: type[BaseSettings], exc: ValidationError) -> str:
    lines = [f"invalid settings for {cls.__name__}:"]
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else ""
        field = cls.model_fields.get(name)
        env = f"HITL_{name.upper()}" if name else "HITL_* settings"
        hint = f" Fix: set {env} to {field.description}." if field and field.description else ""
        lines.append(f"  {env}: {err['msg']}.{hint}")
    return "\n".join(lines)
