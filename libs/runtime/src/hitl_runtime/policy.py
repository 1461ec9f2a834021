"""The policy file: one YAML document, per content type, read by scorer, router and review-api.

`load_policy(path)` validates it; a missing or wrong field stops the service with a message that
names the file, the field and the fix.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hitl_runtime.signal_names import BUILTIN_SIGNALS, unknown_signal
from hitl_schemas.events import Priority

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
MONITOR_RATE = 0.005  # the default audit rate once a type monitors
CommitmentKind = Literal["refund", "guarantee", "legal", "medical", "financial", "deadline"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HardRule(_Strict):
    """Send to review when a signal's value reaches `at_least` (PII found, toxicity, ...)."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    signal: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    at_least: float
    tier: str | None = None
    priority: Priority | None = None


class AuditPolicy(_Strict):
    """Share of would-be-auto-approved items sent to review as audits.

    Two phases once a threshold is certified. *Explore* (and before any certificate): q =
    `floor` + `near_threshold` ramped down over `near_width` above the threshold, while a looser
    threshold is worth certifying. *Monitor*, once none is: a uniform `monitor` rate, enough for
    the drift alarm (a tripling of errors is caught after a median ~120 audits, so after ~120 /
    monitor auto-approved drafts) and the breach check."""

    floor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.02
    near_threshold: Fraction = 0.10
    near_width: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    monitor: Annotated[float, Field(gt=0.0, le=1.0)] = MONITOR_RATE

    @model_validator(mode="before")
    @classmethod
    def _monitor_defaults_to_at_most_floor(cls, data: Any) -> Any:
        # A policy that lowers the floor under the default monitor rate monitors at its floor.
        if isinstance(data, dict) and "monitor" not in data and "floor" in data:
            try:
                floor = float(data["floor"])
            except (TypeError, ValueError):
                return data  # the floor's own check names what is wrong with it
            if 0 < floor < MONITOR_RATE:
                return {**data, "monitor": data["floor"]}
        return data

    @model_validator(mode="after")
    def _monitor_at_most_floor(self) -> AuditPolicy:
        if self.monitor > self.floor:
            raise ValueError(
                f"monitor ({self.monitor}) must not exceed floor ({self.floor}): the monitor "
                "rate is the lighter sampling once no looser threshold is worth exploring"
            )
        return self


class FormPolicy(_Strict):
    min_chars: Annotated[int, Field(ge=0)] = 1
    max_chars: Annotated[int, Field(ge=1)] = 5_000
    max_lines: Annotated[int, Field(ge=1)] = 200

    @model_validator(mode="after")
    def _ordered(self) -> FormPolicy:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars must not exceed max_chars")
        return self


class Sla(_Strict):
    urgent: timedelta = timedelta(minutes=15)
    high: timedelta = timedelta(hours=1)
    normal: timedelta = timedelta(hours=4)
    low: timedelta = timedelta(hours=24)

    def for_priority(self, priority: Priority) -> timedelta:
        value: timedelta = getattr(self, priority)
        return value


class ContentTypePolicy(_Strict):
    target_escape_rate: Annotated[float, Field(gt=0.0, lt=1.0)]
    default_threshold: Annotated[float, Field(gt=0.0, le=1.0)]
    delta: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05
    high_risk: bool = False
    min_evidence: Annotated[int, Field(ge=1)] = 150
    # Before a threshold is certified: review every draft (the safe default), or auto-approve
    # above `default_threshold` on trust, a stated risk: no evidence backs it yet.
    cold_start: Literal["review_all", "default_threshold"] = "review_all"
    # How long the router's certificate waits for a verdict before counting it as an error.
    verdict_wait: Annotated[timedelta, Field(ge=timedelta(minutes=1))] = timedelta(hours=4)
    trivial_edit_chars: Annotated[int, Field(ge=0)] = 10
    audit: AuditPolicy = AuditPolicy()
    hard_rules: list[HardRule] = Field(default_factory=list)
    risky_commitments: list[CommitmentKind] = Field(default_factory=list)
    form: FormPolicy = FormPolicy()
    tier: str = "junior"
    priority: Priority = "normal"
    sla: Sla = Sla()
    two_approvals: bool = False
    # Past the last tier's SLA: keep the item waiting (and alert), or reject it unreviewed.
    sla_fallback: Literal["keep_waiting", "reject"] = "keep_waiting"
    # A signal that failed on a draft (an exception, or more claims than grounding checks) did
    # not look at it: review the draft, or route it on the signals that did work.
    on_signal_failure: Literal["review", "ignore"] = "review"
    reason_codes: Annotated[list[str], Field(min_length=1)]
    checklist: list[str] = Field(default_factory=list)


SignalName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class Policy(_Strict):
    version: Literal[1] = 1
    tiers: Annotated[list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]], Field(min_length=1)]
    unknown_content_type_tier: str = "senior"
    # Plug-in signals (hitl_runtime.signal_names) the scorer loads by name, next to its own.
    signals: Annotated[list[SignalName], Field(max_length=32)] = Field(default_factory=list)
    content_types: Annotated[dict[str, ContentTypePolicy], Field(min_length=1)]

    @property
    def known_signals(self) -> frozenset[str]:
        return frozenset(BUILTIN_SIGNALS) | frozenset(self.signals)

    @model_validator(mode="after")
    def _signals_known(self) -> Policy:
        builtin = sorted(set(self.signals) & set(BUILTIN_SIGNALS))
        if builtin:
            raise ValueError(
                f"signals lists {', '.join(builtin)}, the scorer's own: list plug-ins only"
            )
        for name, ct in self.content_types.items():
            for rule in ct.hard_rules:
                if rule.signal not in self.known_signals:
                    raise ValueError(
                        f"content_types.{name}.hard_rules.{rule.name}.signal: "
                        + unknown_signal(rule.signal, self.known_signals)
                    )
        return self

    @model_validator(mode="after")
    def _tiers_known(self) -> Policy:
        known = set(self.tiers)
        if self.unknown_content_type_tier not in known:
            raise ValueError(
                f"unknown_content_type_tier {self.unknown_content_type_tier!r} is not in tiers"
            )
        for name, ct in self.content_types.items():
            if ct.tier not in known:
                raise ValueError(
                    f"content_types.{name}.tier {ct.tier!r} is not in tiers {sorted(known)}"
                )
            for rule in ct.hard_rules:
                if rule.tier is not None and rule.tier not in known:
                    raise ValueError(
                        f"content_types.{name}.hard_rules.{rule.name}.tier {rule.tier!r} "
                        f"is not in tiers {sorted(known)}"
                    )
        return self

    def for_type(self, content_type: str) -> ContentTypePolicy | None:
        return self.content_types.get(content_type)

    def next_tier(self, tier: str) -> str | None:
        """The tier above `tier`, or None past the last one."""
        index = self.tiers.index(tier) if tier in self.tiers else -1
        return self.tiers[index + 1] if 0 <= index < len(self.tiers) - 1 else None


class PolicyError(Exception):
    """The policy file is missing or wrong; str() names the file, the field and the fix."""


def load_policy(path: str | Path) -> Policy:
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text())
    except FileNotFoundError:
        raise PolicyError(
            f"{file}: no such policy file; set HITL_POLICY_FILE to its path"
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{file}: not valid YAML: {exc}") from None
    return parse_policy(raw, source=str(file))


def parse_policy(raw: object, *, source: str = "<policy>") -> Policy:
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: invalid policy:"]
        for err in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {field}: {err['msg']}; fix this field and restart")
        raise PolicyError("\n".join(lines)) from None
