"""Pipeline benchmark: drafts -> scorer -> router -> routed records, through the real broker.

    uv run python -m bench.pipeline_bench [--rates 300,1000] [--seconds 20] [--backlog 30000]

Runs the real services (scorer and router as `python -m` processes, as deployed) on fresh topics,
feeds them the simulator's drafts and reads `auto-approved` + `needs-review` with read_committed:
1. fixed offered rates: drafts are stamped `created_at` when sent; latency = from that to the
   routed record's arrival (p50/p95/p99);
2. saturation: a backlog published as fast as the producer goes; sustained drafts/s = backlog /
   time from the first send to the last routed record;
3. the broker's own ceiling (ProducerPerformance/ConsumerPerformance) and our ratio to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from bench.broker_bench import broker_ceiling
from bench.common import write_result
from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import dev_service_env
from hitl_runtime.topics import create_topics
from hitl_schemas import Draft
from hitl_sim.procs import Supervisor, free_port
from hitl_sim.scenario import load_scenario
from hitl_sim.world import stream

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6


def _drafts(n: int) -> list[Draft]:
    scenario = load_scenario(ROOT / "bench" / "scenarios" / "steady.yaml", drafts=n)
    return [s.draft for s in stream(scenario, run_id=f"pb{uuid.uuid4().hex[:6]}")]


def _reader(settings: ServiceSettings) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.topic_prefix}pipeline-bench",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    prefix = settings.topic_prefix
    consumer.subscribe([f"{prefix}auto-approved", f"{prefix}needs-review"])
    return consumer


class Pipeline:
    """Scorer(s) and a router on their own topics; stopped on exit."""

    def __init__(self, bootstrap: str, scorers: int) -> None:
        self.settings = ServiceSettings(
            kafka_bootstrap=bootstrap, topic_prefix=f"pbench{uuid.uuid4().hex[:8]}."
        )
        create_topics(make_admin(self.settings), prefix=self.settings.topic_prefix,
                      partitions=PARTITIONS)  # fmt: skip
        self.logs = Path(tempfile.mkdtemp(prefix="hitl-pipeline-bench-"))
        self.supervisor = Supervisor(self.logs)
        env = os.environ | {
            "HITL_KAFKA_BOOTSTRAP": bootstrap,
            "HITL_TOPIC_PREFIX": self.settings.topic_prefix,
            "HITL_POLICY_FILE": str(ROOT / "policy" / "default.yaml"),
            "HITL_LOG_LEVEL": os.environ.get("HITL_LOG_LEVEL", "WARNING"),
        }
        trust, own_keys = dev_service_env()  # as a deployment: each writer signs, readers verify
        env |= trust
        for n in range(scorers):
            own = {"HITL_METRICS_PORT": str(free_port()), "HITL_INSTANCE_ID": f"pb-scorer-{n}"}
            self.supervisor.start(f"scorer-{n}", "scorer", env | own)
        own = {
            "HITL_METRICS_PORT": str(free_port()),
            "HITL_INSTANCE_ID": "pb-router",
            "HITL_DATA_DIR": str(self.logs / "router"),
        } | own_keys.get("router", {})
        self.supervisor.start("router", "router", env | own)
        self.publisher = EventPublisher(make_producer(self.settings), self.settings)
        self.reader = _reader(self.settings)

    def send(self, draft: Draft) -> None:
        self.publisher.publish("drafts", draft.draft_id, draft)

    def receive(self, arrivals: dict[str, float], timeout: float) -> None:
        for msg in self.reader.consume(2000, timeout):
            if msg.error() is None and (key := msg.key()) is not None:
                arrivals.setdefault(bytes(key).decode(), time.time())

    def warm_up(self, deadline_s: float = 180) -> None:
        """Drafts through both services on every partition: joins, model load, and each
        partition's first transactional write are done before anything is timed (with one
        probe only, the first half second of a run measured the other partitions' start)."""
        probes = [
            d.model_copy(update={"draft_id": f"warm-up-{i}"})
            for i, d in enumerate(_drafts(8 * PARTITIONS))
        ]
        for probe in probes:
            self.send(probe)
        self.publisher.flush(30)
        arrivals: dict[str, float] = {}
        deadline = time.monotonic() + deadline_s
        while not all(p.draft_id in arrivals for p in probes):
            if time.monotonic() > deadline or self.supervisor.dead():
                raise RuntimeError(f"pipeline did not start; logs in {self.logs}")
            self.receive(arrivals, 0.5)

    def close(self) -> None:
        self.reader.close()
        self.supervisor.stop_all()


def fixed_rate(pipeline: Pipeline, drafts: list[Draft], rate: float) -> dict[str, Any]:
    sent: dict[str, float] = {}
    arrivals: dict[str, float] = {}
    interval = 1.0 / rate
    started = next_at = time.monotonic()
    for draft in drafts:
        now = time.time()
        pipeline.send(draft.model_copy(update={"created_at": datetime.fromtimestamp(now, UTC)}))
        sent[draft.draft_id] = now
        next_at += interval
        while (pause := next_at - time.monotonic()) > 0:  # pace the offered rate, reading meanwhile
            pipeline.receive(arrivals, min(pause, 0.01))
        pipeline.publisher.producer.poll(0)
    offered_seconds = time.monotonic() - started
    deadline = time.monotonic() + 120
    while len(arrivals) < len(sent) and time.monotonic() < deadline:
        pipeline.receive(arrivals, 0.2)
    delays = sorted((arrivals[k] - sent[k]) * 1000 for k in sent if k in arrivals)

    def pct(p: float) -> float:
        return round(delays[max(0, int(len(delays) * p) - 1)], 1)

    return {
        "offered_rate": rate,
        "achieved_send_rate": round(len(sent) / offered_seconds),
        "drafts": len(sent),
        "routed": len(delays),
        "p50_ms": round(statistics.median(delays), 1),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(delays[-1], 1),
    }


def saturation(pipeline: Pipeline, drafts: list[Draft]) -> dict[str, Any]:
    arrivals: dict[str, float] = {}
    started = time.time()
    for i, draft in enumerate(drafts):
        pipeline.send(draft)
        if i % 2000 == 0:
            pipeline.receive(arrivals, 0)
    pipeline.publisher.flush(60)
    sent_seconds = time.time() - started
    deadline = time.monotonic() + 600
    while len(arrivals) < len(drafts) and time.monotonic() < deadline:
        pipeline.receive(arrivals, 0.2)
    elapsed = max(arrivals.values()) - started
    return {
        "drafts": len(drafts),
        "routed": len(arrivals),
        "publish_seconds": round(sent_seconds, 2),
        "seconds": round(elapsed, 2),
        "drafts_per_second": round(len(arrivals) / elapsed),
    }


def run(bootstrap: str, *, rates: list[float], seconds: float, backlog: int, scorers: int,
        ceiling_records: int) -> dict[str, Any]:  # fmt: skip
    drafts = iter(_drafts(int(sum(rates) * seconds) + backlog))
    pipeline = Pipeline(bootstrap, scorers)
    try:
        pipeline.warm_up()
        steady = [
            fixed_rate(pipeline, [next(drafts) for _ in range(int(rate * seconds))], rate)
            for rate in rates
        ]
        saturated = saturation(pipeline, list(drafts))
    finally:
        pipeline.close()
    ceiling = broker_ceiling(bootstrap, records=ceiling_records, record_size=1024,
                             partitions=PARTITIONS)  # fmt: skip
    return {
        "services": {"scorer_processes": scorers, "router_processes": 1, "partitions": PARTITIONS},
        "fixed_rate": steady,
        "saturation": saturated,
        "broker_ceiling": ceiling,
        "ratio_to_broker_produce_ceiling": round(
            saturated["drafts_per_second"] / ceiling["produce_records_per_second"], 4
        ),
        "note": "drafts ~0.6-1 KB from the steady scenario; one machine runs the broker, the "
        "services and this load generator",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates",
        default="300,1000",
        help="offered drafts/s of the fixed-rate runs, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each fixed-rate run")
    parser.add_argument("--backlog", type=int, default=30_000, help="drafts for saturation")
    parser.add_argument("--scorers", type=int, default=1, help="scorer processes")
    parser.add_argument("--ceiling-records", type=int, default=300_000)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "pipeline.json"))
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("HITL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    rates = [float(r) for r in args.rates.split(",")]
    result = run(bootstrap, rates=rates, seconds=args.seconds, backlog=args.backlog,
                 scorers=args.scorers, ceiling_records=args.ceiling_records)  # fmt: skip
    write_result("pipeline", result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
