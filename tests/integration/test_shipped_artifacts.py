"""The shipped artefacts agree with each other: the policy file loads and defines the four content
types, and every shipped scenario runs under it. Unit tests use their own policy
(tests/policy.yaml), so tuning the shipped one breaks nothing there; these checks say when it
has stopped fitting what ships beside it. No broker needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_runtime.policy import load_policy
from hitl_sim.scenario import load_scenario

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "policy" / "default.yaml"
SHIPPED = sorted((ROOT / "bench" / "scenarios").glob("*.yaml"))


def test_the_shipped_policy_defines_the_four_content_types() -> None:
    policy = load_policy(DEFAULT)
    assert set(policy.content_types) == {
        "chat_reply",
        "customer_email",
        "refund_offer",
        "legal_clause",
    }
    legal = policy.content_types["legal_clause"]
    assert legal.high_risk and legal.two_approvals
    assert policy.next_tier("junior") == "senior"
    assert policy.next_tier("senior") is None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load_and_match_the_default_policy(path: Path) -> None:
    scenario = load_scenario(path)
    scenario.check_against(load_policy(DEFAULT))
    assert scenario.name == path.stem
