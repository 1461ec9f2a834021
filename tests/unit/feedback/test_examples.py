from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedback.examples import to_example
from feedback.export import label_row, preference_row
from hitl_runtime.edits import edit_size
from hitl_runtime.policy import load_policy
from hitl_schemas import Lineage, examples
from testkit import POLICY_FILE

POLICY = load_policy(POLICY_FILE)
LINEAGE = Lineage(topic="decisions", partition=2, offset=41)
NOW = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "after", "chars", "tokens"),
    [
        ("same text", "same text", 0, 0),
        ("the cat sat", "the cat sat!", 1, 1),
        ("refund of 30 EUR", "refund of 60 EUR", 1, 1),
        ("a b c", None, 0, 0),
    ],
)
def test_edit_size(before: str, after: str | None, chars: int, tokens: int) -> None:
    assert edit_size(before, after) == (chars, tokens)


@pytest.mark.parametrize(
    ("verdict", "change", "is_error"),
    [
        ("approve", None, False),
        ("reject", None, True),
        ("edit", "!", False),
        ("edit", " Also, we will refund you twice.", True),
    ],
)
def test_examples_carry_the_label_edit_and_lineage(
    verdict: str, change: str | None, is_error: bool
) -> None:
    draft = examples.draft()
    final = None if verdict == "reject" else draft.text + (change or "")
    decision = examples.decision(verdict=verdict, final_text=final)
    example = to_example(decision, LINEAGE, POLICY.content_types["customer_email"], NOW)
    assert example.is_error is is_error
    assert example.lineage == LINEAGE
    assert example.edit_chars == (len(change) if verdict == "edit" and change else 0)
    assert example.reviewer_tier == decision.reviewer_tier
    assert example.routing == decision.routing


def test_preference_rows_only_for_edits_in_trainer_field_names() -> None:
    edit = to_example(examples.decision(), LINEAGE, None, NOW)
    row = preference_row(edit)
    assert row is not None and set(row) >= {"prompt", "chosen", "rejected"}
    assert (row["chosen"], row["rejected"]) == (edit.final_text, edit.draft.text)
    approve = to_example(
        examples.decision(verdict="approve", final_text=examples.draft().text), LINEAGE, None, NOW
    )
    assert preference_row(approve) is None
    assert label_row(approve)["approved"] is True
