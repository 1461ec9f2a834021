"""The bounded memory that drops re-sent decisions."""

from __future__ import annotations

import pytest

from hitl_runtime.recent import RecentIds


@pytest.mark.parametrize(
    ("capacity", "stream", "expected"),
    [
        (3, ["a", "b", "a"], [False, False, True]),
        (3, ["a", "b", "c", "d", "a"], [False, False, False, False, False]),  # a fell out
        (2, ["a", "b", "a", "c", "a"], [False, False, True, False, True]),  # a seen again: kept
        (1, ["a", "a", "b", "a"], [False, True, False, False]),
    ],
)
def test_seen_reports_repeats_within_the_window(
    capacity: int, stream: list[str], expected: list[bool]
) -> None:
    recent = RecentIds(capacity)
    answers = []
    for key in stream:
        answers.append(key in recent)
        recent.add(key)
    assert answers == expected
    assert len(recent) <= capacity


def test_a_window_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentIds(0)
