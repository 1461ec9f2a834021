"""A signal that failed on a draft sends it to review (issue 15, item 4), for every content type,
unless the type's policy says `on_signal_failure: ignore`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitl_runtime.policy import Policy, PolicyError, load_policy, parse_policy
from hitl_schemas import ScoredDraft, Signal, examples
from router.audit import sampled
from router.core import RouterConfig, TypeState, initial_state, on_decision, route

ROOT = Path(__file__).resolve().parents[3]
POLICY_FILE = ROOT / "policy" / "default.yaml"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
CONFIG = RouterConfig()


def _policy(**per_type: Any) -> Policy:
    raw = yaml.safe_load(POLICY_FILE.read_text())
    for ct in raw["content_types"].values():
        ct.update(per_type)
    return parse_policy(raw)


def _certified(policy: Policy, content_type: str) -> TypeState:
    # Certified at a low threshold, so only the failed signal can send the draft to review.
    state = initial_state(content_type, policy.content_types[content_type])
    state.mode, state.certified, state.threshold = "certified", 0.5, 0.5
    return state


def _scored(content_type: str, failed: bool) -> ScoredDraft:
    signals = [Signal(name=n, value=0.0) for n in ("pii", "toxicity", "grounding", "tone")]
    signals.append(
        Signal(name="form", value=0.0, failed=True, error="TooManyClaims: more than 250")
        if failed
        else Signal(name="form", value=0.0)
    )
    return examples.scored_draft(
        draft=examples.draft(draft_id=_audit_free_id(), content_type=content_type),
        score=examples.score(confidence=0.999, signals=signals),
    )


def _audit_free_id() -> str:
    return next(f"d-{i}" for i in range(1000) if not sampled(f"d-{i}", 0.2, CONFIG.audit_seed))


CONTENT_TYPES = sorted(load_policy(POLICY_FILE).content_types)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_a_failed_signal_sends_the_draft_to_review_by_default(content_type: str) -> None:
    policy = load_policy(POLICY_FILE)
    assert policy.content_types[content_type].on_signal_failure == "review"
    routed = route(
        _scored(content_type, True), _certified(policy, content_type), policy, CONFIG, NOW
    )
    assert (routed.route, routed.reason.kind) == ("needs_review", "signal_failed")
    assert routed.reason.rule == "form (TooManyClaims: more than 250)"
    assert "form (TooManyClaims: more than 250)" in routed.reason.detail
    clean = route(
        _scored(content_type, False), _certified(policy, content_type), policy, CONFIG, NOW
    )
    assert (clean.route, clean.reason.kind) == ("auto_approved", "above_threshold")


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_a_type_whose_policy_ignores_failures_routes_on_the_other_signals(
    content_type: str,
) -> None:
    policy = _policy(on_signal_failure="ignore")
    routed = route(
        _scored(content_type, True), _certified(policy, content_type), policy, CONFIG, NOW
    )
    assert (routed.route, routed.reason.kind) == ("auto_approved", "above_threshold")


def test_a_hard_rule_on_the_failed_signal_still_names_its_rule() -> None:
    policy = load_policy(POLICY_FILE)
    scored = _scored("customer_email", False)
    signals = [
        s.model_copy(update={"failed": True, "error": "boom"}) if s.name == "pii" else s
        for s in scored.score.signals
    ]
    scored = scored.model_copy(
        update={"score": scored.score.model_copy(update={"signals": signals})}
    )
    routed = route(scored, _certified(policy, "customer_email"), policy, CONFIG, NOW)
    assert (routed.reason.kind, routed.reason.rule) == (
        "hard_rule",
        "pii_found (signal pii unavailable)",
    )


def test_the_policy_setting_is_checked_at_start() -> None:
    with pytest.raises(PolicyError, match=r"content_types\.chat_reply\.on_signal_failure"):
        _policy(on_signal_failure="maybe")


def test_verdicts_on_drafts_sent_for_a_failed_signal_are_not_evidence() -> None:
    policy = load_policy(POLICY_FILE)
    state = initial_state("customer_email", policy.content_types["customer_email"])
    routing = examples.routing_snapshot().model_copy(update={"reason": "signal_failed"})
    state, out = on_decision(
        state,
        examples.decision(verdict="reject", final_text=None, routing=routing),
        policy.content_types["customer_email"],
        CONFIG,
        NOW,
    )
    assert state.evidence.total("labelled") == 0 and out == []
