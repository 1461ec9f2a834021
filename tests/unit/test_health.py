"""The stage watchdog and the transactional loop's retries, without a broker."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from hitl_runtime.health import GroupMembership, Health, Watchdog, stalled_stages
from hitl_runtime.metrics import serve_metrics
from hitl_runtime.txn import TransactionalLoop


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("ages", "answering_for", "stuck"),
    [
        ({"s/a": 10.0}, 100.0, []),  # recent progress
        ({"s/a": 61.0}, 100.0, ["s/a"]),  # none for longer than the limit, broker up
        ({"s/a": 61.0, "s/b": 1.0}, 100.0, ["s/a"]),  # only the stuck one is named
        ({"s/a": 500.0}, None, []),  # broker down now: nothing to blame the stage for
        ({"s/a": 500.0}, 29.0, []),  # broker back for less than half the limit: give it time
        ({"s/a": 500.0}, 30.0, ["s/a"]),  # back for half the limit and still nothing
        ({}, 100.0, []),
    ],
)
def test_a_stage_is_stuck_only_without_progress_while_the_broker_answers(
    ages: dict[str, float], answering_for: float | None, stuck: list[str]
) -> None:
    assert stalled_stages(ages, broker_answering_for=answering_for, stall_seconds=60) == stuck


def test_the_watchdog_names_the_stuck_stage_once_the_broker_has_been_back_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    health = Health(clock)
    scoring, idle = health.stage("scorer", "score"), health.stage("scorer", "other")
    scoring.idle(in_group=True, waiting=12)  # records wait: an empty poll is no progress
    broker = {"up": False}
    fired: list[list[str]] = []
    dog = Watchdog(
        health, stall_seconds=60, broker_answers=lambda: broker["up"], on_stall=fired.append
    )
    clock.now += 200  # a long broker outage: no stage makes progress
    idle.beat()
    assert dog.check() == [] and fired == []
    broker["up"] = True
    assert dog.check() == []  # just back: the stage gets time to recover
    clock.now += 29
    idle.beat()
    assert dog.check() == []
    clock.now += 2
    idle.beat()
    assert dog.check() == ["scorer/score"]
    assert fired == [["scorer/score"]]
    assert not health.live()
    assert scoring.age() > 60
    [last_words] = [r for r in caplog.records if r.getMessage() == "stuck stages"]
    assert last_words.fields["scorer/score"]["last_idle_poll"] == {  # type: ignore[attr-defined]
        "in_group": True,
        "waiting": 12,
    }


def test_the_broker_is_not_asked_while_every_stage_makes_progress() -> None:
    clock = Clock()
    health = Health(clock)
    stage = health.stage("router", "route")
    asked: list[int] = []

    def answers() -> bool:
        asked.append(1)
        return True

    dog = Watchdog(health, stall_seconds=60, broker_answers=answers, on_stall=lambda _: None)
    for _ in range(10):
        clock.now += 10
        stage.beat()
        dog.check()
    assert asked == []


def test_readiness_needs_every_stage_to_have_made_progress() -> None:
    clock = Clock()
    health = Health(clock)
    assert not health.ready(60)  # no stage yet
    first, second = health.stage("router", "route"), health.stage("router", "regroup")
    first.beat()
    assert not health.ready(60)
    second.beat()
    assert health.ready(60)
    clock.now += 61
    first.beat()
    assert not health.ready(60)  # regroup has gone quiet for longer than the limit


def test_the_metrics_port_answers_the_probes() -> None:
    health = Health()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve_metrics(port, health=health, stall_seconds=60)
    assert server is not None
    try:

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:  # noqa: S310
                    return int(r.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status("/livez") == 200
        assert status("/readyz") == 503  # no stage has joined yet
        health.stage("scorer", "score").beat()
        assert status("/readyz") == 200
        assert status("/metrics") == 200
        health.stalled = ["scorer/score"]
        assert status("/livez") == 503
    finally:
        server.shutdown()


def test_membership_follows_the_rebalance_callbacks() -> None:
    membership = GroupMembership()
    callbacks = membership.callbacks
    assert not membership.in_group
    callbacks["on_assign"](None, [])
    assert membership.in_group  # an empty assignment is still a place in the group
    callbacks["on_lost"](None, [])
    assert not membership.in_group


def _error(*, retriable: bool = False, abort: bool = False, fatal: bool = False) -> KafkaException:
    return KafkaException(
        KafkaError(
            KafkaError._TIMED_OUT,
            "test",
            fatal=fatal,
            retriable=retriable,
            txn_requires_abort=abort,
        )
    )


class FakeProducer:
    """Fails the named call with the given errors, in order, then succeeds."""

    def __init__(self, failures: dict[str, list[KafkaException]]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*_args: object) -> None:
            self.calls.append(name)
            queue = self.failures.get(name, [])
            if queue:
                raise queue.pop(0)

        return call


def _loop(producer: FakeProducer) -> TransactionalLoop:
    return TransactionalLoop(
        consumer=None,  # type: ignore[arg-type]  # _resume does not touch it
        producer=producer,  # type: ignore[arg-type]
        topics=[],
        handle=lambda _records: None,
        batch_size=1,
        batch_timeout=0.01,
        service="test",
        stage="unit",
        health=Health(),
    )


def test_a_timed_out_init_is_retried_until_it_succeeds() -> None:
    # The cause of "exited by themselves": init_transactions timing out during a broker outage
    # ("retry call to resume") was raised, and the service exited.
    producer = FakeProducer({"init_transactions": [_error(retriable=True)] * 3})
    loop = _loop(producer)
    assert loop._resume(lambda: producer.init_transactions(30), "init", threading.Event())
    assert producer.calls == ["init_transactions"] * 4


@pytest.mark.parametrize(
    "error", [_error(abort=True, retriable=True), _error(fatal=True), _error(retriable=False)]
)
def test_errors_that_are_not_to_be_retried_are_raised(error: KafkaException) -> None:
    producer = FakeProducer({"commit_transaction": [error]})
    with pytest.raises(KafkaException):
        _loop(producer)._resume(lambda: producer.commit_transaction(60), "c", threading.Event())


def test_retries_end_when_the_loop_is_stopped() -> None:
    producer = FakeProducer({"commit_transaction": [_error(retriable=True)] * 100})
    stop = threading.Event()
    stop.set()
    assert not _loop(producer)._resume(lambda: producer.commit_transaction(60), "c", stop)
    assert producer.calls == ["commit_transaction"]


@pytest.mark.parametrize(
    ("in_group", "waiting", "progress"),
    [(True, 0, True), (True, 3, False), (True, None, False), (False, 0, False)],
)
def test_an_idle_poll_is_progress_only_in_the_group_with_nothing_waiting(
    in_group: bool, waiting: int | None, progress: bool
) -> None:
    clock = Clock()
    stage = Health(clock).stage("scorer", "score")
    clock.now += 10
    stage.idle(in_group=in_group, waiting=waiting)
    assert (stage.age() == 0) is progress
