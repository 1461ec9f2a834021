"""The service's retraining runs read and fit in a child process; only publishing is its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from unit.feedback.world import TARGETS, rows, world

from feedback import retraining
from feedback.retraining import RunResult, publish_if_better
from feedback.training import retrain
from scorer.model import load_model, prior
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]


class Models:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, Any]] = []

    def publish(self, topic: str, key: str, event: Any) -> None:
        self.published.append((topic, key, event))

    def flush(self) -> None:
        pass


def assessed(outcome: Any) -> RunResult:
    serving = load_model(prior())
    retraining_result = retrain(rows(world(1200, seed=21)), serving, TARGETS)
    return RunResult(outcome, 1200, serving, None, retraining_result)


def test_the_services_runs_go_through_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from feedback.app import retrain_worker
    from feedback.config import FeedbackSettings
    from hitl_runtime.policy import load_policy

    calls: list[Any] = []

    def in_child(fn: Any, *args: Any) -> RunResult:
        calls.append(fn)
        return assessed("not_better")

    monkeypatch.setattr(retraining, "run_in_child", in_child)
    fields: dict[str, Any] = {"metrics_port": 0}
    if "signing_disabled" in FeedbackSettings.model_fields:
        fields["signing_disabled"] = True  # no model is published here
    settings = FeedbackSettings(**fields)
    worker = retrain_worker(settings, load_policy(POLICY_FILE))
    result = worker._run()
    assert calls == [retraining.assess_in_child]
    assert result.outcome == "not_better"


def test_only_a_better_candidate_is_published_and_only_with_a_publisher() -> None:
    models = Models()
    assert publish_if_better(assessed("not_better"), models).outcome == "not_better"
    assert publish_if_better(assessed("better"), None).outcome == "better"  # a dry run
    assert models.published == []
    better = assessed("better")
    assert publish_if_better(better, models).outcome == "published"
    assert better.retraining is not None
    assert models.published == [
        ("scorer-models", better.retraining.candidate.name, better.retraining.candidate)
    ]
