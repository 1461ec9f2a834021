"""review-api at start waits for its database (HITL_DATABASE_START_SECONDS), against a real
PostgreSQL that comes up after it: a review-api restarted while PostgreSQL restarts must not
exit at once into its platform's restart back-off."""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hitl_sim.infra import PrivateDatabase
from review_api.store import DatabaseUnavailable, create_schema_when_up, make_engine

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def late_database() -> Iterator[PrivateDatabase]:
    # Under the checkout (postgres.sh keeps it elsewhere when the checkout is private).
    state = ROOT / ".local" / f"pg-wait-{uuid.uuid4().hex[:8]}"
    database = PrivateDatabase(state)
    # Created once and stopped: the test is a PostgreSQL restart, as in the chaos suite. A
    # first start creates the `hitl` database after the server accepts connections, and a
    # missing database is (rightly) not waited for.
    database.start()
    database.stop()
    yield database
    database.remove()
    shutil.rmtree(state, ignore_errors=True)


def test_review_api_waits_for_a_database_that_comes_up_after_it(
    late_database: PrivateDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(late_database.url)
    started = threading.Event()

    def start_later() -> None:
        started.wait(30)  # once the wait has begun: the first attempts are refused
        late_database.start()

    starter = threading.Thread(target=start_later, daemon=True)
    starter.start()

    async def wait_then_inspect() -> list[str]:
        task = asyncio.create_task(create_schema_when_up(engine, wait_seconds=120))
        deadline = time.monotonic() + 30
        while "database not reachable yet" not in caplog.text:  # a refused attempt first
            assert time.monotonic() < deadline and not task.done(), caplog.text
            await asyncio.sleep(0.05)
        started.set()
        await task
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        return names

    caplog.set_level(logging.WARNING, logger="review_api.store")
    names = asyncio.run(wait_then_inspect())
    starter.join(60)
    assert {"items", "reviewers", "outbox"} <= set(names), names


def test_a_database_that_never_answers_stops_the_start_naming_the_settings() -> None:
    # A port nobody listens on (the fixture's server is not started here).
    engine = make_engine(PrivateDatabase(ROOT / ".local" / "pg-never").url)
    began = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="HITL_DATABASE_START_SECONDS") as caught:
        asyncio.run(create_schema_when_up(engine, wait_seconds=2))
    assert "HITL_DATABASE_URL" in str(caught.value)
    assert time.monotonic() - began < 30
