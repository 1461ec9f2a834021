"""The short crash suite (`make chaos` is the long one): the whole pipeline with the simulator
and reviewer bots on a private broker and PostgreSQL server; every service killed -9 twice at
random moments, the broker crashed and restarted once, the database stopped once; then every
topic read with read_committed and the invariants audited (hitl_sim.audit).

The run keeps its own deadline (`--budget`), well inside this test's timeout; past it, it
reports what is still owed and stops everything it started. Should the run itself hang, the
test stops it with SIGTERM (its clean-up runs), and the broker and database are stopped here
too, through their state directories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BUDGET = 420  # seconds for the whole run; the test's own timeout is 600


@pytest.mark.timeout(600)
def test_no_draft_decision_or_example_is_lost_or_duplicated_through_crashes(
    tmp_path: Path,
) -> None:
    # Not under tmp_path: pytest makes it private (mode 700) and PostgreSQL runs as its own
    # user, which must reach its data directory.
    report, state = (
        tmp_path / "chaos.json",
        ROOT / ".local" / "chaos" / f"test-{uuid.uuid4().hex[:8]}",
    )
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
        [sys.executable, "-m", "hitl_sim", "chaos", "--drafts", "400", "--rate", "20",
         "--kills", "2", "--settle", "240", "--seed", "11", "--budget", str(BUDGET),
         "--state", str(state), "--json", str(report)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=BUDGET + 90)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the run's own clean-up stops what it started
        out, _ = proc.communicate(timeout=60)
    finally:
        _stop_leftovers(state)
    tail = out.decode(errors="replace")[-6000:]
    assert report.exists(), tail
    outcome = json.loads(report.read_text())
    stuck = json.dumps(outcome.get("stuck_report"), indent=1)
    faults = Counter(str(f["target"]) for f in outcome["faults"])
    assert faults == {"scorer": 2, "router": 2, "review-api": 2, "feedback": 2,
                      "broker": 1, "database": 1}, tail  # fmt: skip
    assert outcome["drafts"] == 400, tail
    assert outcome["completed"], f"{tail}\nstill owed:\n{stuck}"
    stages = {s["name"]: s for s in outcome["audit"]["stages"]}
    assert stages["routed or dead-lettered"]["delivered"] == 400, tail
    assert stages["decided"]["expected"] > 0, tail  # the review path was exercised
    for name, counts in stages.items():
        assert counts["missing"] == 0, f"{name}: {counts}\n{tail}"
        assert counts["duplicates"] == 0, f"{name}: {counts}\n{tail}"
        assert counts["unexpected"] == 0, f"{name}: {counts}\n{tail}"
    assert outcome["audit"]["ok"], tail
    assert proc.returncode == 0, tail


def _stop_leftovers(state: Path) -> None:
    """Stop any broker or database still running from the run's state directory."""
    for run in state.glob("chaos*"):
        scripts = {
            "kafka.sh": {"HITL_KAFKA_STATE": str(run / "kafka")},
            "postgres.sh": {"HITL_POSTGRES_DATA": str(run / "postgres")},
        }
        for script, env in scripts.items():
            subprocess.run(  # noqa: S603 - our own scripts
                ["bash", str(ROOT / "deploy" / "local" / script), "stop"],  # noqa: S607
                env=os.environ | env, capture_output=True, timeout=60, check=False,
            )  # fmt: skip
