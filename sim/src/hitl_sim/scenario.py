"""Scenario files: one YAML file fixes a simulated run, so it can be repeated and extended.

    seed: 7
    drafts: 100000
    rate: 2000                # drafts/s in pipeline mode
    content_types:
      customer_email: {share: 0.5, defect_rate: 0.06, confidence_skill: 0.85, overconfidence: 0.05}
    drift:                    # optional: change a type's parameters part-way through the stream
      - {at: 0.5, content_type: customer_email, defect_rate: 0.12}
    reviewers: {count: 20, accuracy: 0.97, seconds_per_item: [22, 37]}

Targets (escape rate per type) are the policy file's, never the scenario's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hitl_runtime.policy import Policy


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file, the field and the fix."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TypeMix(Strict):
    share: float = Field(gt=0, le=1, description="share of the drafts of this type")
    defect_rate: float = Field(ge=0, le=1, description="P(a careful human would reject or edit)")
    confidence_skill: float = Field(
        default=0.8, ge=0, le=1, description="how much the producer's confidence knows"
    )
    overconfidence: float = Field(
        default=0.0, ge=0, le=1, description="pull of the producer's confidence towards 1"
    )
    send_confidence: bool = Field(default=True, description="does the producer report one")


class Drift(Strict):
    at: float = Field(ge=0, le=1, description="fraction of the stream where the change starts")
    content_type: str
    defect_rate: float | None = Field(default=None, ge=0, le=1)
    confidence_skill: float | None = Field(default=None, ge=0, le=1)
    overconfidence: float | None = Field(default=None, ge=0, le=1)


class Reviewers(Strict):
    count: int = Field(default=10, ge=1, le=500)
    accuracy: float = Field(
        default=0.97, ge=0.5, le=1, description="share of defective drafts a reviewer catches"
    )
    false_reject_rate: float = Field(
        default=0.003, ge=0, le=0.5, description="share of clean drafts a reviewer rejects"
    )
    seconds_per_item: tuple[float, float] = (22.0, 37.0)
    unsure_rate: float = Field(default=0.02, ge=0, le=1, description="share escalated as unsure")

    @model_validator(mode="after")
    def _ordered(self) -> Reviewers:
        low, high = self.seconds_per_item
        if not 0 <= low <= high:
            raise ValueError("seconds_per_item must be [low, high] with 0 <= low <= high")
        return self


class Scenario(Strict):
    name: str = "unnamed"
    description: str = ""
    seed: int = 7
    drafts: int = Field(default=100_000, ge=1)
    rate: float = Field(default=2000.0, gt=0, description="drafts/s in pipeline mode")
    content_types: dict[str, TypeMix] = Field(min_length=1)
    drift: list[Drift] = Field(default_factory=list)
    reviewers: Reviewers = Reviewers()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for change in self.drift:
            if change.content_type not in self.content_types:
                raise ValueError(
                    f"drift names content type {change.content_type!r}, which is not under "
                    "content_types"
                )
        return self

    def check_against(self, policy: Policy) -> None:
        unknown = sorted(set(self.content_types) - set(policy.content_types))
        if unknown:
            raise ScenarioError(
                f"scenario {self.name!r}: content types {unknown} are not in the policy file; "
                f"use one of {sorted(policy.content_types)} or add them to the policy"
            )

    def mix_at(self, fraction: float) -> dict[str, TypeMix]:
        """The per-type parameters in force at this point of the stream (drift applied)."""
        mix = dict(self.content_types)
        for change in sorted(self.drift, key=lambda d: d.at):
            if change.at <= fraction:
                updates: dict[str, Any] = {
                    k: v
                    for k, v in change.model_dump(exclude={"at", "content_type"}).items()
                    if v is not None
                }
                mix[change.content_type] = mix[change.content_type].model_copy(update=updates)
        return mix


def load_scenario(path: Path, *, drafts: int | None = None) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario file {path} must be a mapping (seed, drafts, ...)")
    raw.setdefault("name", path.stem)
    if drafts is not None:
        raw["drafts"] = drafts
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ScenarioError(f"scenario file {path}: {where}: {first['msg']}") from exc
