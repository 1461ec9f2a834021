"""A reviewer's edit re-read by the scorer's grounding and PII checks (issue 17, item 4)."""

from __future__ import annotations

import pytest

from hitl_schemas import examples
from review_api.edit_check import MAX_WARNINGS, check_edit

DRAFT = examples.draft()  # order #4821 shipped 3 November, 5 business days, section 4.2, 30 days
WRONG = DRAFT.model_copy(update={"text": DRAFT.text.replace("30 days", "60 days")})


@pytest.mark.parametrize(
    ("draft", "edited", "expected"),
    [
        # An edit that keeps to the sources: nothing to say.
        (DRAFT, DRAFT.text.replace("Hi Dana", "Dear Dana"), []),
        # The reviewer types a figure the sources do not have: a new warning on it.
        (DRAFT, DRAFT.text.replace("30 days", "45 days"), [("grounding", "45 days", True)]),
        # The reviewer fixes the draft's wrong figure: the warning the draft had is gone.
        (WRONG, DRAFT.text, []),
        # The reviewer leaves the draft's wrong figure in: still shown, but not new.
        (WRONG, WRONG.text + " Thanks!", [("grounding", "60 days", False)]),
        # Personal data pasted in.
        (
            DRAFT,
            DRAFT.text + " Write to dana.lee@example.com.",
            [("pii", "dana.lee@example.com", True)],
        ),
    ],
)
def test_an_edit_is_read_by_the_same_checks_as_the_draft(
    draft: object, edited: str, expected: list[tuple[str, str, bool]]
) -> None:
    result = check_edit(draft, edited)  # type: ignore[arg-type]
    found = [(w.check, edited[w.start : w.end], w.new) for w in result.warnings]
    assert found == expected


def test_a_warning_says_what_the_sources_state() -> None:
    [warning] = check_edit(DRAFT, DRAFT.text.replace("30 days", "45 days")).warnings
    assert "not in the sources" in warning.label


def test_an_edit_past_the_checks_cap_says_it_was_not_checked() -> None:
    edited = " ".join(f"${n}.00" for n in range(400))
    [warning] = [w for w in check_edit(DRAFT, edited).warnings if w.check == "grounding"]
    assert (warning.start, warning.end, warning.new) == (0, 0, True)
    assert "review" in warning.label


def test_the_warnings_are_bounded_new_ones_first() -> None:
    edited = DRAFT.text + " " + " ".join(f"${n}.00 refund." for n in range(1001, 1120))
    result = check_edit(WRONG, edited)
    assert len(result.warnings) == MAX_WARNINGS
    assert result.left_out == 119 - MAX_WARNINGS
    assert all(w.new for w in result.warnings)
