"""One retraining run against Kafka, shared by `python -m feedback retrain` and the service's
automatic trigger: find the serving model, read the newest window of examples from
`retraining-feedback` (read_committed), fit and evaluate, publish to `scorer-models` only when
the candidate is better.

The service's runs read and fit in a child process (`isolated`): a run's working set (the
window, the design matrix, the solver's copies) is hundreds of MB at the default window, and a
long-running process keeps much of that heap after each run; the child's exit returns it all.
The parent only publishes the small result."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass, replace
from typing import Literal

from confluent_kafka import Message

from feedback.export import read_examples
from feedback.training import Bounds, Retraining, retrain
from feedback.window import newest
from hitl_runtime.child import run_in_child
from hitl_runtime.dlq import record_headers
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.logs import configure_logging
from hitl_runtime.policy import Policy
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import verifier_for
from hitl_schemas import ModelVersion, topic
from scorer.model import Combiner, ModelRejected, load_model, prior

log = logging.getLogger(__name__)
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
    verifier = verifier_for(settings, "scorer-models")

    def keep(msg: Message) -> None:
        headers = record_headers(msg)
        if headers is None or verifier.check(msg.key(), msg.value(), headers) is not None:
            return  # the scorer refuses it too (and counts it): not the version to beat
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
    isolated: bool = False,
    bounds: Bounds | None = None,
) -> RunResult:
    """One run; publishes through `publisher` when the candidate is better (None: dry run).
    `isolated`: read and fit in a child process (the service), not in this one (the CLI).
    `bounds`: the weights' bounds of the fit (`feedback.safety.safety_bounds`)."""
    if isolated:
        result = run_in_child(assess_in_child, settings, targets, window, min_examples, bounds)
    else:
        result = assess(
            settings,
            targets,
            window=window,
            min_examples=min_examples,
            progress=progress,
            bounds=bounds,
        )
    return publish_if_better(result, publisher)


def assess(
    settings: ServiceSettings,
    targets: dict[str, float],
    *,
    window: int,
    min_examples: int,
    progress: bool = False,
    bounds: Bounds | None = None,
) -> RunResult:
    """Everything of a run but publishing: the serving model, the newest `window` examples
    (featurised as they are read), the fit and both evaluations. Outcome `better`,
    `not_better` or `too_little_data`."""
    serving, serving_version = serving_model(settings)
    examples = read_examples(
        settings, since=None, until=None, content_type=None, progress=progress, tail=window
    )
    rows = newest(examples, window)
    result = retrain(rows, serving, targets, min_examples=min_examples, bounds=bounds)
    if result is None:
        return RunResult("too_little_data", len(rows), serving, serving_version, None)
    outcome: Outcome = "better" if result.better else "not_better"
    return RunResult(outcome, len(rows), serving, serving_version, result)


def assess_in_child(
    settings: ServiceSettings,
    targets: dict[str, float],
    window: int,
    min_examples: int,
    bounds: Bounds | None = None,
) -> RunResult:
    """`assess` as the child process of an isolated run: logs like the service, and says how
    much memory the run took (the child's peak, returned to the system when it exits)."""
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    result = assess(settings, targets, window=window, min_examples=min_examples, bounds=bounds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    log.info(
        "retraining child done",
        extra={"fields": {"examples": result.examples, "peak_rss_mb": round(peak_mb, 1)}},
    )
    return result


def publish_if_better(result: RunResult, publisher: EventPublisher | None) -> RunResult:
    """Publish a better candidate through `publisher` (None: a dry run, it stays `better`)."""
    if result.outcome != "better" or result.retraining is None or publisher is None:
        return result
    candidate = result.retraining.candidate
    publisher.publish("scorer-models", candidate.name, candidate)
    publisher.flush()
    return replace(result, outcome="published")
