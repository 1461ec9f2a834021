"""`make demo` end to end: the four services, the simulator and the bots on a real broker."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from hitl_sim import demo

pytestmark = pytest.mark.integration


def test_the_demo_runs_the_whole_loop(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HITL_KAFKA_BOOTSTRAP", kafka_bootstrap)
    args = demo.parse(
        [
            "--rate",
            "20",
            "--reviewers",
            "6",
            "--time-scale",
            "0.005",
            "--stop-after-decisions",
            "40",
            "--duration",
            "180",
            "--port",
            "0",
        ]  # fmt: skip
    )
    screen = io.StringIO()
    summary = demo.run(args, Console(file=screen, width=160))
    assert summary.decided >= 40, screen.getvalue()[-3000:]
    assert summary.routed > 0
    assert summary.auto_approved > 0  # the demo starts each type on its default threshold
    assert summary.bot_errors == 0
    assert "oversight per content type" in screen.getvalue()
