"""schemathesis against the running review-api: every response is one its OpenAPI declares (status
code, content type, body schema), and no generated request causes a server error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from testkit import wait_for
from tests.integration.reviewkit import live_review_api, routed

pytestmark = pytest.mark.integration
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
QUEUED = 40


@pytest.fixture(scope="module")
def live_api(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """review-api on a free port, as an admin, with QUEUED items on `needs-review` to ingest."""
    prefix = f"fuzz{uuid.uuid4().hex[:8]}."
    kafka = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix)
    create_topics(make_admin(kafka), prefix=prefix, partitions=1)
    publisher = EventPublisher(make_producer(kafka), kafka)
    for n in range(QUEUED):
        tier = "senior" if n % 3 == 0 else "junior"
        publisher.publish("needs-review", f"fz-{n}", routed(f"fz-{n}", tier=tier))
    publisher.flush()
    env = {
        "HITL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HITL_TOPIC_PREFIX": prefix,
        "HITL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/r.db",
        "HITL_LOG_LEVEL": "WARNING",
    }
    with live_review_api(env, reviewer=("rv-admin", "admin", "senior")) as api:
        yield api


def test_every_response_is_declared_in_the_openapi_and_none_is_a_server_error(
    live_api: tuple[str, str],
) -> None:
    # Each operation of the spec, with generated valid and invalid requests, as admin, against a
    # queue with items in it, so the item, queue and report bodies are checked too.
    base, key = live_api
    headers = {"Authorization": f"Bearer {key}"}

    def queued() -> int:
        return len(httpx.get(f"{base}/v1/items?limit=200", headers=headers).json()["items"])

    wait_for(lambda: queued() == QUEUED, timeout=60, what=f"{QUEUED} items ingested")
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=CHECKS)

        call()
