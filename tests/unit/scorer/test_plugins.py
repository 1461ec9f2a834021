"""Signal plug-ins, and the one registry of signal names that hard rules are checked against."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitl_runtime.policy import Policy, PolicyError, parse_policy
from hitl_runtime.signal_names import BUILTIN_SIGNALS, PLUGIN_GROUP
from hitl_schemas import Draft, examples
from router.core import hard_rule
from scorer.model import Combiner
from scorer.plugins import load_plugins
from scorer.scoring import Scorer
from scorer.signals.base import SignalResult
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]


def judge(draft: Draft) -> SignalResult:
    """A stand-in for a team's LLM judge: flags drafts that mention a competitor."""
    return SignalResult(1.0 if "competitor" in draft.text.lower() else 0.0)


def out_of_range(draft: Draft) -> SignalResult:
    return SignalResult(2.0)


def raises(draft: Draft) -> SignalResult:
    raise TimeoutError("judge did not answer within 2 s")


def entry(name: str, attribute: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attribute}", group=PLUGIN_GROUP)


def raw_policy() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((POLICY_FILE).read_text())
    return loaded


def test_a_typo_in_a_hard_rules_signal_stops_the_policy_naming_the_rule_and_the_fix() -> None:
    raw = raw_policy()
    raw["content_types"]["chat_reply"]["hard_rules"][1]["signal"] = "toxcity"
    with pytest.raises(PolicyError) as caught:
        parse_policy(raw)
    message = str(caught.value)
    assert "content_types.chat_reply.hard_rules.toxic_language.signal" in message
    assert "unknown signal 'toxcity'; did you mean 'toxicity'?" in message


def test_a_plug_in_signal_is_known_once_the_policy_lists_it() -> None:
    raw = raw_policy()
    raw["content_types"]["chat_reply"]["hard_rules"].append(
        {"name": "mentions_competitor", "signal": "competitor_judge", "at_least": 0.5}
    )
    with pytest.raises(PolicyError, match="unknown signal 'competitor_judge'"):
        parse_policy(raw)
    policy = parse_policy(raw | {"signals": ["competitor_judge"]})
    assert "competitor_judge" in policy.known_signals
    with pytest.raises(PolicyError, match="signals lists toxicity, the scorer's own"):
        parse_policy(raw | {"signals": ["competitor_judge", "toxicity"]})


def test_the_registry_names_exactly_the_signals_the_scorer_reports(
    scorer: Scorer, model: Combiner
) -> None:
    [score], _ = scorer.score_batch([examples.draft()], model)
    assert sorted(s.name for s in score.signals) == sorted(BUILTIN_SIGNALS)


def test_a_plug_in_runs_next_to_the_scorers_own_signals_and_drives_a_hard_rule(
    scorer: Scorer, model: Combiner
) -> None:
    raw = raw_policy()
    raw["content_types"]["chat_reply"]["hard_rules"].append(
        {"name": "mentions_competitor", "signal": "competitor_judge", "at_least": 0.5}
    )
    policy = parse_policy(raw | {"signals": ["competitor_judge"]})
    plugins = load_plugins(policy.signals, [entry("competitor_judge", "judge")])
    with_judge = Scorer(policy=policy, toxicity=scorer.toxicity, plugins=plugins)
    drafts = [
        examples.draft(draft_id="d-1", content_type="chat_reply", text="Try our competitor."),
        examples.draft(draft_id="d-2", content_type="chat_reply", text="Happy to help."),
    ]
    scores, _ = with_judge.score_batch(drafts, model)
    values = [{s.name: s.value for s in score.signals}["competitor_judge"] for score in scores]
    assert values == [1.0, 0.0]
    ct = policy.content_types["chat_reply"]
    assert [hard_rule(score.signals, ct) for score in scores] == [
        ("mentions_competitor", None, None),
        None,
    ]


FAILURES = [("out_of_range", "TypeError: plug-in signal"), ("raises", "TimeoutError: judge")]


@pytest.mark.parametrize(("attribute", "error"), FAILURES)
def test_a_plug_in_that_fails_or_breaks_the_contract_fails_on_that_draft_only(
    scorer: Scorer, model: Combiner, policy: Policy, attribute: str, error: str
) -> None:
    plugins = load_plugins(["judge"], [entry("judge", attribute)])
    broken = Scorer(policy=policy, toxicity=scorer.toxicity, plugins=plugins)
    [score], stats = broken.score_batch([examples.draft()], model)
    signal = {s.name: s for s in score.signals}["judge"]
    assert signal.failed and signal.error is not None and signal.error.startswith(error)
    assert stats.failures["judge"] == 1 and 0.0 <= score.confidence <= 1.0


def test_a_policy_signal_with_no_installed_plug_in_stops_the_scorer_at_start() -> None:
    with pytest.raises(
        PolicyError, match=f"policy signals judge: no installed package .*{PLUGIN_GROUP}"
    ):
        load_plugins(["judge"], [])
    with pytest.raises(PolicyError, match="failed to load"):
        load_plugins(
            ["judge"], [EntryPoint(name="judge", value="no_such_module:x", group=PLUGIN_GROUP)]
        )
