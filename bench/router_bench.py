"""Router benchmark: routing throughput and added latency through the real broker, and the
speed of the offline policy replay.

    uv run python -m bench.router_bench [--drafts 20000] [--json bench/results/router.json]

Throughput: a backlog of scored drafts on `scored`, one RouteStage (the router's exactly-once
routing loop), wall time until the last routed draft is committed. Latency: drafts published
one by one at a steady pace while the router runs; the time from publishing a draft to a
read_committed consumer receiving its routed record (transaction commit included).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from bench.common import write_result
from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.policy import load_policy
from hitl_runtime.signing import dev_settings
from hitl_runtime.topics import create_topics
from hitl_schemas import Signal, examples
from router.app import ensure_by_type_topic
from router.config import RouterSettings
from router.core import RouterConfig
from router.replay import Record, replay
from router.stages import RouteStage

ROOT = Path(__file__).resolve().parents[1]
CLEAN = [Signal(name=n, value=0.0) for n in ("pii", "toxicity", "grounding", "tone")]
TYPES = ["customer_email", "chat_reply", "refund_offer", "legal_clause"]


def _scored(i: int, rng: random.Random) -> Any:
    draft = examples.draft(draft_id=f"rb-{i:07d}", content_type=rng.choice(TYPES))
    return examples.scored_draft(
        draft=draft, score=examples.score(confidence=rng.betavariate(8, 1.5), signals=CLEAN)
    )


def _settings(bootstrap: str) -> RouterSettings:
    prefix = f"rbench{uuid.uuid4().hex[:8]}."
    settings = RouterSettings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        metrics_port=0,
        instance_id=f"bench-{uuid.uuid4().hex[:8]}",
        policy_file=ROOT / "policy/default.yaml",
        **dev_settings("bench"),  # the router signs thresholds and verifies decisions
    )
    create_topics(make_admin(settings), prefix=prefix, partitions=6)
    ensure_by_type_topic(make_admin(settings), settings)  # the route stage writes its tallies there
    return settings


def _start(settings: RouterSettings) -> tuple[threading.Event, threading.Thread]:
    stage = RouteStage(settings, load_policy(settings.policy_file), RouterConfig())
    stop = threading.Event()
    thread = threading.Thread(target=stage.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def throughput(n: int, bootstrap: str) -> dict[str, Any]:
    settings = _settings(bootstrap)
    publisher = EventPublisher(make_producer(settings), settings)
    rng = random.Random(7)
    for i in range(n):
        event = _scored(i, rng)
        publisher.publish("scored", event.draft.draft_id, event)
    publisher.flush(120)
    started = time.perf_counter()
    stop, thread = _start(settings)
    prefix = settings.topic_prefix
    # Both outputs together hold n records; read until their sum reaches n.
    deadline = time.monotonic() + 600
    total = 0
    readers = {
        name: _reader(bootstrap, f"{prefix}{name}") for name in ("auto-approved", "needs-review")
    }
    while total < n and time.monotonic() < deadline:
        for reader in readers.values():
            total += sum(1 for m in reader.consume(5000, 0.2) if m.error() is None)
    elapsed = time.perf_counter() - started
    for reader in readers.values():
        reader.close()
    stop.set()
    thread.join(60)
    return {
        "drafts": n,
        "partitions": 6,
        "seconds": round(elapsed, 2),
        "drafts_per_second": round(n / elapsed),
        "note": "wall time from stage start (includes group join) to the last routed draft "
        "read with read_committed",
    }


def _reader(bootstrap: str, topic_name: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"rb-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic_name])
    return consumer


def latency(n: int, rate: float, bootstrap: str) -> dict[str, Any]:
    settings = _settings(bootstrap)
    stop, thread = _start(settings)
    prefix = settings.topic_prefix
    readers = [_reader(bootstrap, f"{prefix}{name}") for name in ("auto-approved", "needs-review")]
    for reader in readers:  # join the groups before the clock starts
        reader.consume(1, 5.0)
    no_linger: dict[str, Any] = {"linger.ms": 0}
    publisher = EventPublisher(make_producer(settings, **no_linger), settings)
    rng = random.Random(11)
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    warmup = _scored(10_000_000, rng)
    publisher.publish("scored", warmup.draft.draft_id, warmup)
    publisher.flush()
    deadline = time.monotonic() + 60
    while warmup.draft.draft_id.encode() not in received and time.monotonic() < deadline:
        for reader in readers:
            for m in reader.consume(100, 0.05):
                if m.error() is None and (key := m.key()) is not None:
                    received[bytes(key).decode()] = time.perf_counter()
        if warmup.draft.draft_id in received:
            break
    received.clear()
    next_send = time.perf_counter()
    i = 0
    deadline = time.monotonic() + 120 + n / rate
    while (i < n or len(received) < n) and time.monotonic() < deadline:
        now = time.perf_counter()
        if i < n and now >= next_send:
            event = _scored(i, rng)
            publisher.publish("scored", event.draft.draft_id, event)
            publisher.producer.flush(5)
            sent[event.draft.draft_id] = time.perf_counter()
            i += 1
            next_send += 1.0 / rate
        for reader in readers:
            for m in reader.consume(100, 0.001):
                if m.error() is None and (key := m.key()) is not None:
                    received.setdefault(bytes(key).decode(), time.perf_counter())
    for reader in readers:
        reader.close()
    stop.set()
    thread.join(60)
    delays = sorted((received[k] - sent[k]) * 1000 for k in sent if k in received)
    return {
        "drafts": n,
        "rate_per_second": rate,
        "received": len(delays),
        "p50_ms": round(statistics.median(delays), 1),
        "p99_ms": round(delays[int(len(delays) * 0.99) - 1], 1),
        "note": "publish to read_committed receipt of the routed record, one router, "
        "transaction commit per batch included",
    }


def replay_speed(n: int) -> dict[str, Any]:
    rng = random.Random(3)
    records = [
        Record(f"r{i}", rng.choice(TYPES), c := rng.betavariate(8, 1.5), rng.random() < (1 - c) / 4)
        for i in range(n)
    ]
    started = time.perf_counter()
    replay(records, load_policy(ROOT / "policy/default.yaml"), RouterConfig(), delay=100)
    elapsed = time.perf_counter() - started
    return {"records": n, "records_per_second": round(n / elapsed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drafts", type=int, default=20_000)
    parser.add_argument("--latency-drafts", type=int, default=1_000)
    parser.add_argument("--latency-rate", type=float, default=200.0)
    parser.add_argument("--replay-records", type=int, default=200_000)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "router.json"))
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("HITL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    write_result(
        "router",
        {
            "throughput": throughput(args.drafts, bootstrap),
            "latency": latency(args.latency_drafts, args.latency_rate, bootstrap),
            "replay": replay_speed(args.replay_records),
        },
        args.json,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
