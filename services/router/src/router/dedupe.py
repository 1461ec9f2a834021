"""Route each draft id once, also when its producer published the draft twice.

An idempotent producer still writes a record twice now and then: after a broker crash
librdkafka may bump the producer epoch and send again messages the broker had already
persisted (confluentinc/librdkafka#4953; its maintainers: the idempotent producer's
exactly-once guarantee is only partial). Both copies carry one `draft_id`, both are scored, and
both land on the same `scored` partition, because the scorer keys `scored` by draft id.
DESIGN.md invariant 1 is per draft id, so the route stage drops every later copy.

`SeenDrafts` is the pure memory behind that: per `scored` partition, the draft ids of the last
`window` records a committed transaction handled, plus those of the transaction in hand (kept
apart, so an aborted batch read again does not find its own ids). A partition's memory is
rebuilt from the partition itself when the stage first handles it after an assignment
(`needs_seed`; stages.py reads the records before the first offset handled), and dropped on
revocation: another replica may route it meanwhile. A copy more than `window` records behind
its first is routed again; the README says so.

A copy is the same draft: the same id *and* the same content (`fingerprint`). A second record
under a used id with other content is not a copy but a producer bug, or a trick: dropping it
would hand it the first draft's verdict, so it is dead-lettered with the reason instead
(`Seen.REUSED`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from enum import Enum

from hitl_schemas import Draft


def fingerprint(draft: Draft) -> str:
    """The draft's content, as the scorer serialised it (both copies of a draft re-serialise
    the same bytes)."""
    return hashlib.sha256(draft.model_dump_json().encode()).hexdigest()[:32]


class Seen(Enum):
    FIRST = "first"  # route it
    COPY = "copy"  # drop it: this draft was handled already
    REUSED = "reused"  # dead-letter it: the id was handled already, for other content


class SeenDrafts:
    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self._committed: dict[int, OrderedDict[str, str]] = {}
        self._pending: dict[tuple[int, str], str] = {}

    def needs_seed(self, partition: int) -> bool:
        return partition not in self._committed

    def seed(self, partition: int, drafts: Iterable[tuple[str, str]]) -> None:
        """The partition's memory, from the (draft id, fingerprint) of its records before the
        first one this replica handles, oldest first."""
        memory: OrderedDict[str, str] = OrderedDict()
        self._committed[partition] = memory
        for draft_id, digest in drafts:
            # The first record of an id was routed; a later one was a copy (dropped) or a reuse
            # (dead-lettered), so it must not replace what the id stands for.
            if draft_id not in memory:
                self._remember(partition, draft_id, digest)

    def check(self, partition: int, draft_id: str, digest: str) -> Seen:
        """FIRST (and the draft is held for this transaction) unless this id was handled on
        this partition already, by a committed transaction or earlier in this one."""
        key = (partition, draft_id)
        memory = self._committed.get(partition)
        known = self._pending.get(key) or (memory.get(draft_id) if memory is not None else None)
        if known is None:
            self._pending[key] = digest
            return Seen.FIRST
        return Seen.COPY if known == digest else Seen.REUSED

    def begin(self) -> None:
        """A new transaction: drafts held by one that did not commit are let go."""
        self._pending.clear()

    def committed(self) -> None:
        for (partition, draft_id), digest in self._pending.items():
            if partition in self._committed:
                self._remember(partition, draft_id, digest)
        self.begin()

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._committed.pop(partition, None)

    def _remember(self, partition: int, draft_id: str, digest: str) -> None:
        memory = self._committed[partition]
        memory[draft_id] = digest
        memory.move_to_end(draft_id)
        if len(memory) > self.window:
            memory.popitem(last=False)
