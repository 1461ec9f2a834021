"""The policy file: a wrong one names the file, the field and the fix (the shipped one is checked
in tests/integration/test_shipped_artifacts.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitl_runtime.policy import PolicyError, load_policy, parse_policy
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[2]


def _broken(change: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(POLICY_FILE.read_text())
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            lambda p: p["content_types"]["chat_reply"].pop("target_escape_rate"),
            "content_types.chat_reply.target_escape_rate",
            "Field required",
        ),
        (
            lambda p: p["content_types"]["chat_reply"].update(default_threshold=1.5),
            "content_types.chat_reply.default_threshold",
            "less than or equal to 1",
        ),
        (
            lambda p: p["content_types"]["refund_offer"].update(tier="principal"),
            "(top level)",
            "not in tiers",
        ),
        (
            lambda p: p["content_types"]["chat_reply"].update(sla={"normal": "soon"}),
            "content_types.chat_reply.sla.normal",
            "duration",
        ),
        (
            lambda p: p["content_types"]["chat_reply"].update(risky_commitments=["bribery"]),
            "content_types.chat_reply.risky_commitments.0",
            "refund",
        ),
        (lambda p: p.update(colour="blue"), "colour", "Extra inputs"),
    ],
)
def test_a_wrong_policy_names_the_field_and_the_fix(change: Any, field: str, words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(_broken(change), source="policy.yaml")
    text = str(caught.value)
    assert text.startswith("policy.yaml: invalid policy")
    assert f"  {field}:" in text
    assert words in text
    assert "fix this field" in text


def test_a_missing_policy_file_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="HITL_POLICY_FILE"):
        load_policy(tmp_path / "nope.yaml")


def test_the_scorer_refuses_to_start_on_a_bad_setting_and_says_why() -> None:
    env = os.environ | {"HITL_BATCH_SIZE": "0", "HITL_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    result = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "scorer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "HITL_BATCH_SIZE" in result.stderr
    assert "Fix: set HITL_BATCH_SIZE to a number from 1 to 10000" in result.stderr
