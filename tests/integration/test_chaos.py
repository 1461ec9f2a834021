"""The short crash suite (`make chaos` is the long one): the whole pipeline with the simulator
and reviewer bots on a private broker and PostgreSQL server; every service killed -9 twice at
random moments, the broker crashed and restarted once, the database stopped once; then every
topic read with read_committed and the invariants audited (hitl_sim.audit)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_no_draft_decision_or_example_is_lost_or_duplicated_through_crashes(
    tmp_path: Path,
) -> None:
    report = tmp_path / "chaos.json"
    done = subprocess.run(  # noqa: S603 - our own interpreter and CLI
        [sys.executable, "-m", "hitl_sim", "chaos", "--drafts", "400", "--rate", "20",
         "--kills", "2", "--settle", "240", "--seed", "11", "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    tail = (done.stdout + done.stderr)[-4000:]
    assert report.exists(), tail
    outcome = json.loads(report.read_text())
    faults = Counter(str(f["target"]) for f in outcome["faults"])
    assert faults == {"scorer": 2, "router": 2, "review-api": 2, "feedback": 2,
                      "broker": 1, "database": 1}, tail  # fmt: skip
    assert outcome["drafts"] == 400, tail
    assert outcome["completed"], tail
    stages = {s["name"]: s for s in outcome["audit"]["stages"]}
    assert stages["routed or dead-lettered"]["delivered"] == 400, tail
    assert stages["decided"]["expected"] > 0, tail  # the review path was exercised
    for name, counts in stages.items():
        assert counts["missing"] == 0, f"{name}: {counts}\n{tail}"
        assert counts["duplicates"] == 0, f"{name}: {counts}\n{tail}"
        assert counts["unexpected"] == 0, f"{name}: {counts}\n{tail}"
    assert outcome["audit"]["ok"], tail
    assert done.returncode == 0, tail
