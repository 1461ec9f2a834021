"""review-api with several replicas on one PostgreSQL: their outbox relays share the rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.pg import fresh_postgres_database, postgres_base_url
from hitl_runtime.kafka import make_producer
from hitl_runtime.serde import decode
from hitl_schemas import Decision, examples, topic
from review_api import adapters
from review_api.config import ReviewApiSettings
from review_api.store import add_outbox, create_schema, make_engine, sessions
from testkit import read_to_end

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ROWS = 1200  # more than one relay pass takes (500), so both replicas get work


async def _drain(
    make: async_sessionmaker[AsyncSession], producer: Producer, settings: ReviewApiSettings
) -> int:
    sent = 0
    while batch := await adapters.relay_once(make, producer, settings):
        sent += batch
    return sent


def test_two_relays_publish_each_decision_exactly_once(
    settings_factory: Callable[..., Any], topics: str, kafka_bootstrap: str
) -> None:
    url = fresh_postgres_database(postgres_base_url())
    settings: ReviewApiSettings = settings_factory(
        ReviewApiSettings,
        service_name="review-api",
        database_url=url,
        policy_file=ROOT / "policy" / "default.yaml",
    )
    decisions_topic = topic("decisions", topics)
    ids = [f"dec-{i:05d}" for i in range(ROWS)]

    async def run() -> list[int]:
        engine = make_engine(url)
        await create_schema(engine)
        make = sessions(engine)
        now = datetime.now(UTC)
        async with make() as session, session.begin():
            for i, decision_id in enumerate(ids):
                event = examples.decision(decision_id=decision_id, draft_id=f"d-{i:05d}")
                await add_outbox(
                    session, topic=decisions_topic, key=event.draft_id,
                    payload=event.model_dump_json(), now=now,
                )  # fmt: skip
        replicas = [make_producer(settings), make_producer(settings)]
        try:
            return list(await asyncio.gather(*(_drain(make, p, settings) for p in replicas)))
        finally:
            await engine.dispose()

    sent = asyncio.run(run())
    records = read_to_end(kafka_bootstrap, decisions_topic, at_least=ROWS)
    published = [decode(Decision, r.value()).decision_id for r in records]
    assert sum(sent) == ROWS
    assert all(n > 0 for n in sent), sent  # both replicas worked...
    assert sorted(published) == ids  # ...and no decision went out twice
