"""The crash suite's topic reader against a live pipeline: its progress reads must end while
the services keep writing (a 6,000-draft run once died of a read that chased the end)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from hitl_runtime.settings import ServiceSettings
from hitl_sim.topics_reader import read_flow

pytestmark = pytest.mark.integration


def test_a_progress_read_ends_while_records_keep_arriving(
    settings: ServiceSettings, topics: str, producer_factory: Callable[..., Producer]
) -> None:
    producer = producer_factory()
    before = [f"before-{i}" for i in range(2_000)]
    for key in before:
        producer.produce(f"{topics}drafts", key=key.encode(), value=b"{}")
    producer.flush(30)
    stop = threading.Event()

    def keep_writing() -> None:  # a pipeline that does not pause while it is audited
        i = 0
        while not stop.is_set():
            producer.produce(f"{topics}scored", key=f"live-{i}".encode(), value=b"{}")
            producer.poll(0)
            i += 1
            stop.wait(0.002)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        flow = read_flow(settings, final=False, timeout=20)
    finally:
        stop.set()
        writer.join(10)
    assert set(before) <= set(flow.drafts)
