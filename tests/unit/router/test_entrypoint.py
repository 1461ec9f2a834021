"""The router's entry point: a stage that dies stops the process with a failure status."""

from __future__ import annotations

import signal
import threading

import pytest

from router import __main__ as entry


def test_a_dying_stage_asks_the_process_to_stop_and_marks_the_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(entry.os, "kill", lambda pid, sig: sent.append((pid, sig)))

    def broken(_stop: threading.Event) -> None:
        raise RuntimeError("the stage's consumer is gone")

    failed, stop, exits = threading.Event(), threading.Event(), []
    stop.set()  # the worker stopped in time: no hard exit
    entry.guarded(broken, stop, failed, hard_exit=lambda *a: exits.append(a))
    assert failed.is_set()
    assert sent == [(entry.os.getpid(), signal.SIGTERM)]
    assert exits == []


def test_a_router_that_does_not_stop_in_time_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry.os, "kill", lambda pid, sig: None)

    def broken(_stop: threading.Event) -> None:
        raise RuntimeError("the stage's consumer is gone")

    exits: list[tuple[list[str], str]] = []
    entry.guarded(
        broken, threading.Event(), threading.Event(), grace=0.01,
        hard_exit=lambda stages, reason: exits.append((stages, reason)),
    )  # fmt: skip
    assert len(exits) == 1 and "did not stop in time" in exits[0][1]


def test_a_stage_that_ends_normally_stops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(entry.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    failed = threading.Event()
    entry.guarded(lambda _stop: None, threading.Event(), failed, hard_exit=lambda *a: None)
    assert not failed.is_set()
    assert sent == []


@pytest.mark.parametrize(
    ("stage_failed", "worker_code", "signalled", "status"),
    [
        (False, 0, True, 0),  # SIGTERM, clean stop: the only 0
        (False, None, True, 0),
        (True, 0, True, 1),  # a stage died (it sends the SIGTERM itself)
        (False, 1, True, 1),  # the worker failed while stopping
        (False, 0, False, 1),  # the worker stopped by itself: restart us
        (False, 1, False, 1),
        (False, "crash", False, 1),
        (False, 3, False, 3),
    ],
)
def test_only_a_router_asked_to_stop_exits_0(
    stage_failed: bool, worker_code: object, signalled: bool, status: int
) -> None:
    assert entry.exit_status(stage_failed=stage_failed, worker_code=worker_code,
                             signalled=signalled) == status  # fmt: skip
