"""The route stage's memory of drafts already routed (router.dedupe), as case tables."""

from __future__ import annotations

import pytest

from hitl_schemas import examples
from router.dedupe import Seen, SeenDrafts, fingerprint

A, B = "fp-a", "fp-b"


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (action, partition, draft id, fingerprint) ... -> what the last check says
        ([("check", 0, "x", A)], Seen.FIRST),
        ([("check", 0, "x", A), ("check", 0, "x", A)], Seen.COPY),  # same transaction
        ([("check", 0, "x", A), ("check", 0, "x", B)], Seen.REUSED),
        ([("check", 0, "x", A), ("commit",), ("check", 0, "x", A)], Seen.COPY),
        ([("check", 0, "x", A), ("commit",), ("check", 0, "x", B)], Seen.REUSED),
        # an aborted transaction is read again: its drafts must not find themselves
        ([("check", 0, "x", A), ("begin",), ("check", 0, "x", A)], Seen.FIRST),
        # memory is per partition: copies land on one partition (the scorer keys by draft id)
        ([("check", 0, "x", A), ("commit",), ("check", 1, "x", A)], Seen.FIRST),
        # a revoked partition's memory is stale: another replica may have routed it since
        ([("check", 0, "x", A), ("commit",), ("forget", 0), ("check", 0, "x", A)], Seen.FIRST),
        # the window: with room for 2, the oldest of three is forgotten
        (
            [
                ("check", 0, "x", A),
                ("check", 0, "y", A),
                ("check", 0, "z", A),
                ("commit",),
                ("check", 0, "x", A),
            ],
            Seen.FIRST,
        ),  # fmt: skip
        (
            [
                ("check", 0, "x", A),
                ("check", 0, "y", A),
                ("check", 0, "z", A),
                ("commit",),
                ("check", 0, "y", A),
            ],
            Seen.COPY,
        ),  # fmt: skip
    ],
)
def test_what_a_draft_id_is(steps: list[tuple[object, ...]], expected: Seen) -> None:
    seen = SeenDrafts(window=2)
    seen.seed(0, [])
    seen.seed(1, [])
    result = None
    for action, *args in steps:
        if action == "check":
            partition, draft_id, digest = args
            result = seen.check(int(str(partition)), str(draft_id), str(digest))
        elif action == "commit":
            seen.committed()
        elif action == "begin":
            seen.begin()
        elif action == "forget":
            seen.forget([int(str(args[0]))])
            seen.seed(int(str(args[0])), [])
    assert result is expected


def test_a_seeded_partition_knows_what_was_routed_before_the_restart() -> None:
    seen = SeenDrafts(window=10)
    assert seen.needs_seed(3)
    seen.seed(3, [("x", A), ("y", B)])
    assert not seen.needs_seed(3)
    assert seen.check(3, "x", A) is Seen.COPY
    assert seen.check(3, "y", A) is Seen.REUSED
    assert seen.check(3, "z", A) is Seen.FIRST


def test_a_seed_keeps_the_first_content_of_an_id_not_a_later_reuse() -> None:
    seen = SeenDrafts(window=10)
    seen.seed(0, [("x", A), ("x", B)])  # x was routed with A; the B record was dead-lettered
    assert seen.check(0, "x", A) is Seen.COPY
    assert seen.check(0, "x", B) is Seen.REUSED


def test_the_seed_keeps_only_the_newest_window() -> None:
    seen = SeenDrafts(window=2)
    seen.seed(0, [("old", A), ("mid", A), ("new", A)])
    assert seen.check(0, "old", A) is Seen.FIRST
    assert seen.check(0, "new", A) is Seen.COPY


def test_a_copy_has_the_fingerprint_of_its_first_and_other_content_does_not() -> None:
    draft = examples.draft(draft_id="d1")
    copy = examples.draft(draft_id="d1")
    other = examples.draft(draft_id="d1", text="Your refund of $2,500 is approved.")
    assert fingerprint(draft) == fingerprint(copy)
    assert fingerprint(draft) != fingerprint(other)


def test_a_window_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        SeenDrafts(window=0)
