"""A bounded memory of recently seen ids, for dropping re-sent events.

review-api's outbox relay is at-least-once: a crash between the broker's acknowledgement and
the database commit sends those decisions again on restart, with the same `decision_id` (also
the CloudEvents id), seconds to minutes after the first copy. feedback checks `draft_id in
recent` first and `add`s it only once its work is committed (an aborted batch is handled again
and must not find its own ids). The memory is bounded (`capacity` newest ids) and lives in the
process: feedback starts it from the examples it has already committed, so that a copy arriving
after a restart is caught too. (The router keeps its own list inside its changelogged state.)
"""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def add(self, key: str) -> None:
        """Remember `key` as the newest; the oldest is forgotten beyond `capacity`."""
        self._ids[key] = None
        self._ids.move_to_end(key)
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)
