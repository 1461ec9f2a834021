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

    failed = threading.Event()
    entry.guarded(broken, threading.Event(), failed)
    assert failed.is_set()
    assert sent == [(entry.os.getpid(), signal.SIGTERM)]


def test_a_stage_that_ends_normally_stops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(entry.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    failed = threading.Event()
    entry.guarded(lambda _stop: None, threading.Event(), failed)
    assert not failed.is_set()
    assert sent == []
