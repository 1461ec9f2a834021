"""Scenario files: the shipped ones are there, bad ones say what to fix (that the shipped ones
match the shipped policy is checked in tests/integration/test_shipped_artifacts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_runtime.policy import load_policy
from hitl_sim.scenario import ScenarioError, load_scenario
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "bench" / "scenarios").glob("*.yaml"))


def test_the_four_promised_scenarios_ship() -> None:
    assert {p.stem for p in SHIPPED} >= {"steady", "drift", "overconfident", "cold-start"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "must be a mapping"),
        ("seed: [\n", "not valid YAML"),
        ("content_types: {}\n", "content_types"),
        (
            "content_types: {chat_reply: {share: 2, defect_rate: 0.1}}\n",
            "content_types.chat_reply.share",
        ),
        (
            "content_types: {chat_reply: {share: 1, defect_rate: 0.1}}\n"
            "drift: [{at: 0.5, content_type: legal_clause, defect_rate: 0.2}]\n",
            "not under content_types",
        ),
        ("content_types: {chat_reply: {share: 1, defect_rate: 0.1, colour: red}}\n", "colour"),
        (
            "content_types: {chat_reply: {share: 1, defect_rate: 0.1}}\n"
            "reviewers: {seconds_per_item: [30, 10]}\n",
            "seconds_per_item",
        ),
    ],
)
def test_a_bad_scenario_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_a_scenario_type_missing_from_the_policy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("content_types: {haiku: {share: 1, defect_rate: 0.1}}\n")
    with pytest.raises(ScenarioError, match="haiku"):
        load_scenario(path).check_against(load_policy(POLICY_FILE))
