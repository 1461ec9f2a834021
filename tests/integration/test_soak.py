"""The short soak (`make soak` is the long one): steady load on the four services and the
reviewer bots; memory must stay flat after warm-up and consumer lag bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_memory_stays_flat_and_lag_bounded_under_steady_load(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    report = tmp_path / "soak.json"
    done = subprocess.run(  # noqa: S603 - our own interpreter and CLI
        [sys.executable, "-m", "hitl_sim", "soak", "--duration", "45", "--rate", "40",
         "--every", "3", "--json", str(report)],
        cwd=ROOT, env=os.environ | {"HITL_KAFKA_BOOTSTRAP": kafka_bootstrap},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    tail = (done.stdout + done.stderr)[-3000:]
    assert report.exists(), tail
    figures = json.loads(report.read_text())
    services = {s["service"]: s for s in figures["services"]}
    assert set(services) == {"scorer", "router", "review-api", "feedback"}, tail
    assert figures["drafts"] >= 40 * 40, tail  # the load really ran
    for name, verdict in services.items():
        assert verdict["samples"] >= 5, f"{name}: {verdict}"
        assert verdict["growth_mb"] <= figures["bounds"]["max_growth_mb"], f"{name}: {verdict}"
        assert verdict["max_lag"] <= figures["bounds"]["max_lag"], f"{name}: {verdict}"
    assert done.returncode == 0, tail
