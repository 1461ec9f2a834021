from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from feedback.retraining import RunResult
from feedback.trigger import RetrainWorker, retrain_due
from scorer.model import load_model, prior
from testkit import wait_for


@pytest.mark.parametrize(
    ("new", "since", "due"),
    [
        (0, 0.0, False),
        (0, 10_000.0, False),  # time alone never retrains: nothing new to learn from
        (1, 10.0, False),
        (1999, 3599.0, False),
        (2000, 0.0, True),  # N new examples
        (5000, 1.0, True),
        (1, 3600.0, True),  # T seconds, and something new
        (-3, 7200.0, False),
    ],
)
def test_retrain_due(new: int, since: float, due: bool) -> None:
    assert (
        retrain_due(
            new_examples=new, seconds_since_last=since, every_examples=2000, every_seconds=3600
        )
        is due
    )


def runs(outcome: str) -> float:
    return REGISTRY.get_sample_value("hitl_feedback_retrain_runs_total", {"outcome": outcome}) or 0


class FakeTraining:
    """Counts runs and how many overlap; each run waits until the test lets it finish."""

    def __init__(self) -> None:
        self.runs = 0
        self.running = 0
        self.most_at_once = 0
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self) -> RunResult:
        with self.lock:
            self.runs += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        return RunResult("too_little_data", 0, load_model(prior()), None, None)


def test_worker_trains_off_the_callers_thread_one_run_at_a_time() -> None:
    training = FakeTraining()
    before = runs("too_little_data")
    worker = RetrainWorker(training, every_examples=10, every_seconds=3600)
    worker.start()
    try:
        worker.add(4)
        worker.add(6)  # N reached: one run starts, and add() has not waited for it
        wait_for(lambda: training.runs == 1, timeout=10, what="the first run")
        worker.add(25)  # due again while the first run is still going
        training.release.set()
        wait_for(lambda: training.runs == 2, timeout=10, what="the second run")
        wait_for(
            lambda: runs("too_little_data") == before + 2,
            timeout=10,
            what="both runs counted",
        )
        worker.add(3)  # below N and T far away: no third run
        assert training.runs == 2 and training.most_at_once == 1
    finally:
        worker.stop(5)


def test_worker_retrains_after_t_seconds_with_something_new() -> None:
    training = FakeTraining()
    training.release.set()
    now = [0.0]
    worker = RetrainWorker(training, every_examples=1000, every_seconds=60, clock=lambda: now[0])
    worker.start()
    try:
        now[0] = 61.0  # T has passed, but nothing new: no run
        worker.add(0)
        worker.add(1)  # now something new, and T is long past: a run
        wait_for(lambda: training.runs == 1, timeout=10, what="the timed run")
    finally:
        worker.stop(5)


def test_a_failing_run_is_counted_and_the_worker_goes_on() -> None:
    calls = []

    def broken() -> RunResult:
        calls.append(1)
        raise RuntimeError("broker gone")

    before = runs("failed")
    worker = RetrainWorker(broken, every_examples=1, every_seconds=3600)
    worker.start()
    try:
        worker.add(1)
        wait_for(
            lambda: runs("failed") == before + 1,
            timeout=10,
            what="the failure counted",
        )
        worker.add(1)
        wait_for(lambda: len(calls) == 2, timeout=10, what="the next run")
    finally:
        worker.stop(5)


def test_a_run_sets_the_quality_gauges_and_the_last_published_time() -> None:
    from unit.feedback.world import TARGETS, rows, world

    from feedback.training import retrain
    from feedback.trigger import observe_run

    serving = load_model(prior())
    retraining = retrain(rows(world(1000, seed=12)), serving, TARGETS)
    assert retraining is not None and retraining.better
    assert observe_run(RunResult("published", 1000, serving, None, retraining)) == "published"
    sample = REGISTRY.get_sample_value
    assert sample("hitl_feedback_model_last_published_timestamp_seconds") == (
        retraining.candidate.created_at.timestamp()
    )
    assert sample("hitl_feedback_model_log_loss", {"model": "candidate"}) == (
        retraining.candidate_eval.log_loss
    )
    assert sample(
        "hitl_feedback_model_review_rate_at_target_ratio",
        {"model": "serving", "content_type": "customer_email"},
    ) == (retraining.serving_eval.by_type["customer_email"].review_rate)
