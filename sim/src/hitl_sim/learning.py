"""How fast does the scorer learn from reviewers? Retrain on a growing simulated review history.

For a scenario, the reviewed drafts (`reviews.reviewed_examples`) arrive in time order; at each
checkpoint (250, 500, 1000, ... reviews) the feedback service's own `retrain` fits a candidate on
the older 80 % and judges it against the serving prior on the newest 20 %, exactly as the
running service decides whether to publish.
"""

from __future__ import annotations

from typing import Any

from feedback.safety import safety_bounds
from feedback.training import retrain
from feedback.window import newest
from hitl_runtime.policy import Policy
from hitl_sim.reviews import reviewed_examples
from hitl_sim.scenario import Scenario
from scorer.model import load_model, prior

CHECKPOINTS = (250, 500, 1000, 2000, 4000, 8000)


def learning_curve(scenario: Scenario, policy: Policy) -> dict[str, Any]:
    targets = {name: ct.target_escape_rate for name, ct in policy.content_types.items()}
    rows = newest(reviewed_examples(scenario, policy))
    serving = load_model(prior())
    bounds = safety_bounds(policy)  # as the feedback service fits
    points: list[dict[str, Any]] = []
    for reviews in [c for c in CHECKPOINTS if c <= len(rows)] or [len(rows)]:
        result = retrain(rows[:reviews], serving, targets, bounds=bounds)
        if result is None:
            points.append({"reviews": reviews, "trained": False})
            continue
        before, after = result.serving_eval, result.candidate_eval
        points.append(
            {
                "reviews": reviews,
                "trained": True,
                "published": result.better,
                "refusals": list(result.refusals),
                "holdout_examples": after.examples,
                "prior": {
                    "auc": before.auc,
                    "ece": round(before.ece, 4),
                    "log_loss": round(before.log_loss, 4),
                },
                "retrained": {
                    "auc": after.auc,
                    "ece": round(after.ece, 4),
                    "log_loss": round(after.log_loss, 4),
                },
            }  # fmt: skip
        )
    first = next((p["reviews"] for p in points if p.get("published")), None)
    return {
        "scenario": scenario.name,
        "drafts": scenario.drafts,
        "reviews": len(rows),
        "first_published_at_reviews": first,
        "checkpoints": points,
    }
