"""Fixtures for tests against a real Kafka broker.

The broker is HITL_KAFKA_BOOTSTRAP when set, else the local one on 127.0.0.1:9092, started here
(and stopped at the end) when it is not already running. A broker that cannot be reached fails
the run: integration tests never skip. PostgreSQL likewise: HITL_TEST_POSTGRES_URL, else the
local server, started on first use and stopped at the end when this run started it.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from bench.pg import stop_if_started_here
from hitl_runtime.kafka import make_admin, make_consumer, make_producer
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics

ROOT = Path(__file__).resolve().parents[2]
LOCAL_BROKER = "127.0.0.1:9092"


def _answers(bootstrap: str, timeout: float = 5.0) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000})
    try:
        admin.list_topics(timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("HITL_KAFKA_BOOTSTRAP")
    if given:
        if not _answers(given, timeout=20):
            pytest.fail(f"HITL_KAFKA_BOOTSTRAP={given} does not answer a metadata request")
        yield given
        return
    started = False
    if not _answers(LOCAL_BROKER):
        script = ROOT / "deploy" / "local" / "kafka.sh"
        result = subprocess.run(  # noqa: S603 - our own script
            [str(script), "start"], capture_output=True, text=True, timeout=600, check=False
        )
        if result.returncode != 0 or not _answers(LOCAL_BROKER, timeout=20):
            pytest.fail(f"could not start the local Kafka broker:\n{result.stderr[-3000:]}")
        # Only a broker this session started is stopped at its end: one that was merely slow to
        # answer (a loaded machine) belongs to someone else.
        started = "already running" not in result.stderr + result.stdout
    yield LOCAL_BROKER
    if started:
        subprocess.run([str(ROOT / "deploy/local/kafka.sh"), "stop"], check=False, timeout=60)  # noqa: S603


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A local PostgreSQL a test started (bench.pg) is stopped with the run, as the broker is."""
    stop_if_started_here()


@pytest.fixture
def topic_prefix() -> str:
    """A fresh namespace for every registered topic, so each test has its own pipeline."""
    return f"t{uuid.uuid4().hex[:12]}."


@pytest.fixture
def settings_factory(kafka_bootstrap: str, topic_prefix: str) -> Callable[..., ServiceSettings]:
    def build(cls: type[ServiceSettings] = ServiceSettings, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "metrics_port": 0,
            "service_name": "test",
        }
        values.update(overrides)
        return cls(**values)

    return build


@pytest.fixture
def settings(settings_factory: Callable[..., ServiceSettings]) -> ServiceSettings:
    return settings_factory()


@pytest.fixture
def admin(settings: ServiceSettings) -> AdminClient:
    return make_admin(settings)


@pytest.fixture
def topics(admin: AdminClient, topic_prefix: str) -> str:
    """Every registered topic, created under this test's prefix (one partition, for speed)."""
    create_topics(admin, prefix=topic_prefix, partitions=1)
    return topic_prefix


@pytest.fixture
def consumer_factory(settings: ServiceSettings) -> Iterator[Callable[..., Consumer]]:
    made: list[Consumer] = []

    def build(*topic_names: str, group_id: str | None = None, **overrides: Any) -> Consumer:
        consumer = make_consumer(
            settings, group_id=group_id or f"g-{uuid.uuid4().hex[:12]}", **overrides
        )
        consumer.subscribe([f"{settings.topic_prefix}{name}" for name in topic_names])
        made.append(consumer)
        return consumer

    yield build
    for consumer in made:
        consumer.close()


@pytest.fixture
def producer_factory(settings: ServiceSettings) -> Iterator[Callable[..., Producer]]:
    made: list[Producer] = []

    def build(**overrides: Any) -> Producer:
        producer = make_producer(settings, **overrides)
        made.append(producer)
        return producer

    yield build
    for producer in made:
        producer.flush(10)
