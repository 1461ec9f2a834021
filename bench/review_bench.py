"""review-api benchmark: claim + decide round trips with concurrent reviewers, on PostgreSQL.

    uv run python -m bench.review_bench [--items 2000] [--reviewers 50] [--json ...]

Starts the real service (uvicorn, in a subprocess) against a fresh PostgreSQL database
(HITL_TEST_POSTGRES_URL, else deploy/local/postgres.sh), seeds items and reviewers, then N
reviewer clients each claim-next and approve over HTTP on loopback until the queue is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, wait_until_healthy, write_result
from bench.pg import fresh_postgres_database, postgres_base_url
from hitl_runtime.kafka import make_admin
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from hitl_schemas import RouteReason, examples
from review_api import service
from review_api.db import ApiKey, Reviewer
from review_api.store import create_schema, hash_key, make_engine, new_api_key, sessions

ROOT = Path(__file__).resolve().parents[1]


async def _seed(url: str, items: int, reviewers: int) -> list[str]:
    engine = make_engine(url)
    await create_schema(engine)
    make = sessions(engine)
    now = datetime.now(UTC)
    async with make() as s, s.begin():
        for i in range(items):
            event = examples.routed_draft(
                draft=examples.draft(draft_id=f"b-{i:06d}"),
                reason=RouteReason(kind="low_confidence"),
                audit=False,
                audit_q=1.0,
                routed_at=now,
                due_at=now + timedelta(hours=4),
            )
            await service.ingest(s, event, event.model_dump_json().encode(), now)
    keys = []
    async with make() as s, s.begin():
        for n in range(reviewers):
            s.add(Reviewer(id=f"rv-{n}", display_name=f"bench {n}", role="reviewer", tier="senior"))
        await s.flush()
        for n in range(reviewers):
            key = new_api_key()
            s.add(ApiKey(key_hash=hash_key(key), reviewer_id=f"rv-{n}", created_at=now))
            keys.append(key)
    await engine.dispose()
    return keys


async def _work(base: str, keys: list[str]) -> tuple[list[float], float]:
    round_trips: list[float] = []
    limits = httpx.Limits(max_connections=len(keys) + 5)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def reviewer(key: str) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            while True:
                started = time.perf_counter()
                claimed = await client.post("/v1/items/claim-next", headers=headers)
                if claimed.status_code == 204:
                    return
                claimed.raise_for_status()
                draft_id = claimed.json()["draft_id"]
                decided = await client.post(
                    f"/v1/items/{draft_id}/decision", json={"verdict": "approve"}, headers=headers
                )
                decided.raise_for_status()
                round_trips.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(reviewer(k) for k in keys))
        return round_trips, time.perf_counter() - started


def run(items: int, reviewers: int) -> dict[str, Any]:
    url = fresh_postgres_database(postgres_base_url())
    prefix = f"rvbench{uuid.uuid4().hex[:6]}."
    settings = ServiceSettings(
        kafka_bootstrap=os.environ.get("HITL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    create_topics(make_admin(settings), prefix=prefix, partitions=1)
    keys = asyncio.run(_seed(url, items, reviewers))
    port = free_port()
    env = os.environ | {
        "HITL_DATABASE_URL": url,
        "HITL_HTTP_PORT": str(port),
        "HITL_INGEST": "false",
        "HITL_TOPIC_PREFIX": prefix,
        "HITL_LOG_LEVEL": os.environ.get("HITL_LOG_LEVEL", "WARNING"),
        "HITL_POLICY_FILE": str(ROOT / "policy/default.yaml"),
    }
    server = subprocess.Popen([sys.executable, "-m", "review_api"], env=env)  # noqa: S603
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(f"{base}/healthz")
        round_trips, elapsed = asyncio.run(_work(base, keys))
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    ordered = sorted(round_trips)
    return {
        "database": "postgresql",
        "items": items,
        "reviewers": reviewers,
        "round_trips": len(ordered),
        "seconds": round(elapsed, 2),
        "round_trips_per_second": round(len(ordered) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
        "note": "claim-next then approve, over HTTP on loopback, one uvicorn worker",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "review_api.json"))
    args = parser.parse_args(argv)
    write_result("review-api", {"claim_and_decide": run(args.items, args.reviewers)}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
