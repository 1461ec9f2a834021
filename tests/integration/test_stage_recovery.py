"""Stages that outlive a fault resume, or end so that their supervisor restarts them.

- A stage consumer fenced by another member with its group.instance.id (what a broker crash
  does to a replica that rejoined just before it) is dead for good: the loop must end, not
  poll on with no partitions (the router that routed nothing, alive, after a chaos run).
- Scorer and router started while the broker is down (longer than a transactional init's
  timeout) route drafts once it is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from hitl_runtime.health import Health
from hitl_runtime.kafka import EventPublisher, make_admin, make_producer, make_stage_consumer
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from hitl_runtime.txn import TransactionalLoop
from hitl_schemas import examples
from hitl_sim.infra import PrivateBroker
from testkit import read_to_end, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 40.0  # longer than init_transactions' 30 s timeout
STALL_SECONDS = 60.0  # the stage watchdog's limit (the default)


def test_a_fenced_stage_consumer_ends_the_loop_instead_of_polling_on(
    settings: ServiceSettings, topics: str
) -> None:
    group, instance = f"g-{uuid.uuid4().hex[:8]}", f"i-{uuid.uuid4().hex[:8]}"
    source = f"{topics}drafts"
    loop = TransactionalLoop(
        consumer=make_stage_consumer(settings, group_id=group, instance_id=instance),
        producer=make_producer(settings, transactional_id=f"tx-{uuid.uuid4().hex[:8]}"),
        topics=[source],
        handle=lambda _records: None,
        batch_size=10,
        batch_timeout=0.05,
        service="test",
        stage="fenced",
        health=Health(),
    )
    stop, outcome = threading.Event(), {}

    def run() -> None:
        try:
            loop.run(stop)
            outcome["result"] = "returned"
        except KafkaException as exc:
            outcome["result"] = exc.args[0].str()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: loop.membership.in_group, timeout=60, what="the first member to join")
        usurper = make_stage_consumer(settings, group_id=group, instance_id=instance)
        usurper.subscribe([source])
        wait_for(
            lambda: usurper.consume(1, 0.2) is not None and usurper.assignment(),
            timeout=60,
            what="the member with the same instance id to take the partition",
        )
        thread.join(timeout=60)  # bounded; the assertion says what happened
        assert not thread.is_alive(), "the fenced loop polls on with a dead consumer"
        assert "fenced" in str(outcome.get("result", "")).lower(), outcome
        usurper.close()
    finally:
        stop.set()


def _service(
    name: str, module: str, settings: ServiceSettings, state: Path
) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "HITL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HITL_TOPIC_PREFIX": settings.topic_prefix,
        "HITL_POLICY_FILE": str(ROOT / "policy" / "default.yaml"),
        "HITL_INSTANCE_ID": f"{name}-{uuid.uuid4().hex[:6]}",
        "HITL_INTERNAL_PARTITIONS": "1",
        "HITL_DATA_DIR": str(state / name),
        "HITL_METRICS_PORT": "0",
        "HITL_STAGE_STALL_SECONDS": str(STALL_SECONDS),
    }
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module],
        env=env,
        stdout=(state / f"{name}.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.timeout(900)  # a private broker started twice, and an outage
def test_scorer_and_router_started_in_a_broker_outage_route_once_it_is_back(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    settings = ServiceSettings(
        kafka_bootstrap=private_broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}."
    )
    create_topics(make_admin(settings), prefix=settings.topic_prefix, partitions=1)
    private_broker.crash()
    procs = {name: _service(name, name, settings, tmp_path) for name in ("scorer", "router")}
    try:
        # The outage itself (not a synchronisation): both services start and wait without it.
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            exited = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            assert not exited, f"exited during the outage: {exited}\n{_logs(tmp_path)}"
            time.sleep(1.0)
        private_broker.start()
        back = time.monotonic()
        publisher = EventPublisher(make_producer(settings), settings)
        publisher.publish("drafts", "after-outage", examples.draft(draft_id="after-outage"))
        publisher.flush(60)

        def routed() -> bool:
            return any(
                read_to_end(settings.kafka_bootstrap, f"{settings.topic_prefix}{name}", timeout=5)
                for name in ("auto-approved", "needs-review")
            )

        # Bound: a stage resumes within the watchdog's limit of the broker's return, or the
        # watchdog ends it and the restart resumes; here nobody restarts, so it must resume.
        try:
            wait_for(routed, timeout=STALL_SECONDS * 3 + 30, interval=1.0,
                     what="the draft routed after the broker came back")  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_logs(tmp_path)}") from None
        assert time.monotonic() - back < STALL_SECONDS * 3 + 30
        assert all(p.poll() is None for p in procs.values()), _logs(tmp_path)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _logs(state: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in state.glob("*.log")
    )
