"""schemathesis against the running review-api: no generated request causes a server error."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from bench.common import free_port, wait_until_healthy
from hitl_runtime.kafka import make_admin
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def live_api(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    prefix = f"fuzz{uuid.uuid4().hex[:8]}."
    create_topics(
        make_admin(ServiceSettings(kafka_bootstrap=kafka_bootstrap)), prefix=prefix, partitions=1
    )
    port = free_port()
    env = os.environ | {
        "HITL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HITL_TOPIC_PREFIX": prefix,
        "HITL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/r.db",
        "HITL_HTTP_PORT": str(port),
        "HITL_POLICY_FILE": str(ROOT / "policy/default.yaml"),
        "HITL_LOG_LEVEL": "WARNING",
    }
    made = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "review_api",
            "create-reviewer",
            "--id",
            "rv-admin",
            "--name",
            "Fuzz admin",
            "--role",
            "admin",
            "--tier",
            "senior",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    key = made.stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "review_api"], env=env)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(f"{base}/healthz")
    yield base, key
    server.terminate()
    server.wait(30)


def test_no_generated_request_causes_a_server_error(live_api: tuple[str, str]) -> None:
    # Each operation of the OpenAPI spec, with generated valid and invalid requests, as admin.
    base, key = live_api
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=base,
                headers={"Authorization": f"Bearer {key}"},
                checks=[not_a_server_error],
            )

        call()
