"""A synthetic world of reviewed drafts, shared by the feedback unit and integration tests."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from feedback.window import Window, newest
from hitl_schemas import FeedbackExample, Signal, examples

# The world: drafts go wrong mostly through ungrounded facts and bad form; the producer's own
# confidence helps a little. The hand-set prior knows the direction but not the sizes.
TRUE_WEIGHTS = {"grounding": -6.0, "form": -4.0, "producer_logit": 0.3, "pii": -1.0}
TRUE_INTERCEPT = 2.5
TARGETS = {"customer_email": 0.05, "chat_reply": 0.03}
# Drafts where the generator talks about itself: the signals miss them, reviewers reject them.
SELF_TALK = "As an AI language model I cannot check the parcel, but"


def world(n: int, seed: int, *, self_talk: float = 0.0) -> list[FeedbackExample]:
    """`self_talk`: the share of drafts that open with SELF_TALK (almost always rejected)."""
    rng = random.Random(seed)
    plain = examples.draft()
    talking = examples.draft(text=f"{SELF_TALK} {plain.text}")
    out = []
    for i in range(n):
        values = {
            "grounding": rng.random() ** 3,
            "form": rng.random() ** 4,
            "pii": float(rng.random() < 0.05),
        }
        confidence = rng.uniform(0.6, 0.99)
        z = TRUE_INTERCEPT + TRUE_WEIGHTS["producer_logit"] * math.log(
            confidence / (1 - confidence)
        )
        z += sum(TRUE_WEIGHTS[k] * v for k, v in values.items())
        talks = rng.random() < self_talk
        approved = rng.random() < (0.03 if talks else 1 / (1 + math.exp(-z)))
        signals = [Signal(name=k, value=v) for k, v in values.items()] + [
            Signal(name="producer_confidence", value=confidence, details={"source": "reported"}),
            Signal(name="toxicity", value=0.0),
            Signal(name="tone", value=0.0),
            Signal(name="commitments", value=0.0),
        ]
        out.append(
            examples.feedback_example(
                draft_id=f"w-{i}",
                draft=talking if talks else plain,
                verdict="approve" if approved else "reject",
                final_text=None,
                is_error=not approved,
                score=examples.score(signals=signals, confidence=0.5),
                decided_at=examples.T0 + timedelta(minutes=i),
            )
        )
    return out


def rows(source: list[FeedbackExample]) -> Window:
    return newest(source)
