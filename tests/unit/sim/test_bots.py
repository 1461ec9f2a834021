"""Reviewer bots' judgement: from the ground truth, with a configured accuracy."""

from __future__ import annotations

import random

import pytest

from hitl_sim.bots import act, reason_for
from hitl_sim.world import Truth

CLEAN = Truth(None, "approve", "Hi Dana, it ships today.", ())
WRONG_DATE = Truth(
    "wrong_date", "edit", "Hi Dana, it ships today.", ("wrong_date", "factual_error")
)
INELIGIBLE = Truth("not_eligible", "reject", "text", ("not_eligible",))
EMAIL_CODES = ["factual_error", "wrong_amount", "wrong_date", "tone", "other"]


@pytest.mark.parametrize(
    ("truth", "kind", "final_text", "codes"),
    [
        (CLEAN, "approve", None, ()),
        (WRONG_DATE, "edit", "Hi Dana, it ships today.", ("wrong_date",)),
        (INELIGIBLE, "reject", None, ("other",)),  # not_eligible is not an email code
        (None, "approve", None, ()),  # a draft the simulator did not write
    ],
)
def test_a_perfect_reviewer_follows_the_truth(
    truth: Truth | None, kind: str, final_text: str | None, codes: tuple[str, ...]
) -> None:
    action = act(truth, EMAIL_CODES, accuracy=1.0, unsure_rate=0.0, can_escalate=True,
                 rng=random.Random(1))  # fmt: skip
    assert (action.kind, action.final_text, action.reason_codes) == (kind, final_text, codes)


def test_a_clean_draft_is_rejected_only_at_the_false_reject_rate() -> None:
    rng = random.Random(4)
    rejected = sum(
        act(
            CLEAN,
            EMAIL_CODES,
            accuracy=0.9,
            unsure_rate=0.0,
            can_escalate=False,
            rng=rng,
            false_reject_rate=0.01,
        ).kind
        == "reject"  # fmt: skip
        for _ in range(10_000)
    )
    assert 0.005 < rejected / 10_000 < 0.015


@pytest.mark.parametrize(("accuracy", "low", "high"), [(0.97, 0.01, 0.05), (0.8, 0.15, 0.25)])
def test_mistakes_follow_the_configured_accuracy(accuracy: float, low: float, high: float) -> None:
    rng = random.Random(2)
    wrong = sum(
        act(
            WRONG_DATE, EMAIL_CODES, accuracy=accuracy, unsure_rate=0.0, can_escalate=False, rng=rng
        ).kind
        == "approve"  # fmt: skip
        for _ in range(4000)
    )
    assert low < wrong / 4000 < high


def test_only_a_reviewer_below_the_top_tier_escalates() -> None:
    kinds = {
        act(
            CLEAN,
            EMAIL_CODES,
            accuracy=1.0,
            unsure_rate=1.0,
            can_escalate=can,
            rng=random.Random(3),
        ).kind
        for can in (True, False)
    }
    assert kinds == {"escalate", "approve"}


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (["wrong_date", "other"], ("wrong_date",)),
        (["factual_error"], ("factual_error",)),
        (["tone", "other"], ("other",)),
        (["tone"], ("tone",)),
    ],  # fmt: skip
)
def test_the_reason_code_is_the_best_one_the_policy_lists(
    allowed: list[str], expected: tuple[str, ...]
) -> None:
    assert reason_for(WRONG_DATE, allowed) == expected
