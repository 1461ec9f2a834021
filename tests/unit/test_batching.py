"""The transactional loop takes what has arrived as soon as anything has (issue 18, item 1)."""

from __future__ import annotations

import pytest

from hitl_runtime.health import Health
from hitl_runtime.txn import TransactionalLoop


class FetchedConsumer:
    """A consumer holding `fetched` records locally; records each consume(n, timeout) call."""

    def __init__(self, fetched: int) -> None:
        self.fetched = fetched
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[int]:
        self.calls.append((num_messages, timeout))
        taken = min(num_messages, self.fetched)
        self.fetched -= taken
        return list(range(taken))


def _loop(consumer: FetchedConsumer, batch_size: int) -> TransactionalLoop:
    return TransactionalLoop(
        consumer=consumer,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]  # _next_batch does not touch it
        topics=[],
        handle=lambda _records: None,
        batch_size=batch_size,
        batch_timeout=0.5,
        service="test",
        stage="unit",
        health=Health(),
    )


@pytest.mark.parametrize(
    ("fetched", "batch_size", "taken", "calls"),
    [
        # Idle: one wait of batch_timeout for a first record, nothing more.
        (0, 500, 0, [(1, 0.5)]),
        # A lone draft: taken at once, the rest of the batch is not waited for.
        (1, 500, 1, [(1, 0.5), (499, 0)]),
        # Under load: what is already fetched fills the batch, still without a wait.
        (800, 500, 500, [(1, 0.5), (499, 0)]),
        (3, 500, 3, [(1, 0.5), (499, 0)]),
        (7, 1, 1, [(1, 0.5)]),
    ],
)
def test_a_batch_is_what_has_arrived_never_a_wait_for_a_full_one(
    fetched: int, batch_size: int, taken: int, calls: list[tuple[int, float]]
) -> None:
    consumer = FetchedConsumer(fetched)
    assert len(_loop(consumer, batch_size)._next_batch()) == taken
    assert consumer.calls == calls
