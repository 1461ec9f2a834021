"""One retraining run against Kafka, shared by `python -m feedback retrain` and the service's
automatic trigger: find the serving model, read the newest window of examples from
`retraining-feedback` (read_committed), fit and evaluate, publish to `scorer-models` only when
the candidate is better."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from confluent_kafka import Message

from feedback.export import read_examples
from feedback.training import Retraining, newest, retrain
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.policy import Policy
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import ModelVersion, topic
from scorer.model import Combiner, ModelRejected, load_model, prior

MODEL_NAME = "combiner"
Outcome = Literal["published", "better", "not_better", "too_little_data"]


@dataclass(frozen=True)
class RunResult:
    """`better`: better but not published (a dry run); `serving_version`: the newest valid model
    on `scorer-models`, None when the prior serves."""

    outcome: Outcome
    examples: int
    serving: Combiner
    serving_version: ModelVersion | None
    retraining: Retraining | None


def targets_of(policy: Policy) -> dict[str, float]:
    return {name: ct.target_escape_rate for name, ct in policy.content_types.items()}


def serving_model(
    settings: ServiceSettings, *, wait: float = 30.0
) -> tuple[Combiner, ModelVersion | None]:
    """What the scorer serves: the last version of our model on `scorer-models` that passes
    validation (the scorer skips refused ones the same way), else the prior."""
    found: list[tuple[Combiner, ModelVersion]] = []

    def keep(msg: Message) -> None:
        try:
            version = decode(ModelVersion, msg.value())
            if version.name == MODEL_NAME:
                found[:] = [(load_model(version), version)]
        except (EventValidationError, ModelRejected):
            return

    follower = CompactedFollower(
        settings, topic("scorer-models", settings.topic_prefix), keep, name="retrain-models"
    )
    follower.start()
    follower.caught_up.wait(wait)
    follower.stop()
    follower.join(wait)
    if found:
        return found[-1]
    return load_model(prior()), None


def run_once(
    settings: ServiceSettings,
    targets: dict[str, float],
    *,
    window: int,
    min_examples: int,
    publisher: EventPublisher | None,
    progress: bool = False,
) -> RunResult:
    """One run; publishes through `publisher` when the candidate is better (None: dry run)."""
    serving, serving_version = serving_model(settings)
    examples = read_examples(
        settings, since=None, until=None, content_type=None, progress=progress, tail=window
    )
    rows = newest(examples, window)
    result = retrain(rows, serving, targets, min_examples=min_examples)
    if result is None:
        return RunResult("too_little_data", len(rows), serving, serving_version, None)
    outcome: Outcome = "not_better"
    if result.better and publisher is not None:
        publisher.publish("scorer-models", result.candidate.name, result.candidate)
        publisher.flush()
        outcome = "published"
    elif result.better:
        outcome = "better"
    return RunResult(outcome, len(rows), serving, serving_version, result)
