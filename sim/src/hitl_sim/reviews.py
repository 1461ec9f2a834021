"""Simulated review history, offline: what feedback would have received from a scenario's run.

Each simulated draft is scored by the scorer's own code, routed by the router's own `choose`
(default thresholds, audit sampling), and every draft sent to review gets a reviewer bot's
verdict (`bots.act`, with the scenario's reviewer accuracy). The decision becomes a
FeedbackExample through the feedback service's own `to_example`. No broker: this is the data a
learning test or a retraining experiment needs, produced in seconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

from feedback.examples import to_example
from hitl_runtime.policy import Policy
from hitl_schemas import Decision, FeedbackExample, Lineage, RoutingSnapshot, Score
from hitl_schemas.events import Verdict
from hitl_sim.bots import act
from hitl_sim.offline import scored_drafts
from hitl_sim.scenario import Scenario
from hitl_sim.world import SimDraft
from router.core import RouterConfig, TypeState, choose, hard_rule, initial_state
from scorer.model import Combiner


def reviewed_examples(
    scenario: Scenario, policy: Policy, *, model: Combiner | None = None
) -> Iterator[FeedbackExample]:
    """FeedbackExamples for the reviewed share of the scenario's drafts, in decision order."""
    states = {name: initial_state(name, ct) for name, ct in policy.content_types.items()}
    rng = random.Random(scenario.seed + 1)
    offset = 0
    for sim_draft, score in scored_drafts(scenario, policy, model=model):
        example = _review(sim_draft, score, policy, states, scenario, rng, offset)
        if example is not None:
            offset += 1
            yield example


def _review(
    sim: SimDraft,
    score: Score,
    policy: Policy,
    states: dict[str, TypeState],
    scenario: Scenario,
    rng: random.Random,
    offset: int,
) -> FeedbackExample | None:
    draft = sim.draft
    ct = policy.for_type(draft.content_type)
    if ct is None:
        return None
    state = states[draft.content_type]
    choice = choose(
        draft.draft_id, score.confidence, hard_rule(score.signals, ct), state, ct, RouterConfig()
    )
    if choice.route == "auto_approved":
        return None
    action = act(
        sim.truth,
        ct.reason_codes,
        accuracy=scenario.reviewers.accuracy,
        false_reject_rate=scenario.reviewers.false_reject_rate,
        unsure_rate=0.0,  # escalations end in a verdict too; the tier does not change the label
        can_escalate=False,
        rng=rng,
    )
    verdict: Verdict = "approve" if action.kind == "escalate" else action.kind
    decided_at = draft.created_at + timedelta(minutes=5)
    decision = Decision(
        decision_id=f"sim-{draft.draft_id}",
        draft_id=draft.draft_id,
        tenant=draft.tenant,
        content_type=draft.content_type,
        verdict=verdict,
        final_text=action.final_text if verdict == "edit" else None,
        reason_codes=list(action.reason_codes),
        reviewer_ids=["bot"],
        reviewer_tier=choice.tier or ct.tier or policy.tiers[0],
        draft=draft,
        score=score,
        routing=RoutingSnapshot(
            confidence=score.confidence,
            threshold=state.threshold,
            threshold_version=state.version,
            reason=choice.reason,
            audit=choice.reason == "audit",
            audit_q=choice.q,
            model_version=score.model_version,
        ),
        decided_at=decided_at,
    )
    lineage = Lineage(topic="decisions", partition=0, offset=offset)
    return to_example(decision, lineage, ct, decided_at)
