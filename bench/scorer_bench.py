"""Scorer benchmark: per-signal time on ~1 KB drafts, and drafts/s through the real broker.

    uv run python -m bench.scorer_bench [--drafts 20000] [--json bench/results/scorer.json]

Needs a broker (HITL_KAFKA_BOOTSTRAP, else 127.0.0.1:9092; `make kafka-up`).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import write_result
from bench.drafts import drafts
from bench.reading import count_committed
from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.policy import load_policy
from hitl_runtime.signing import dev_settings
from hitl_runtime.topics import create_topics
from hitl_schemas import TOPICS
from scorer.app import bootstrap
from scorer.config import ScorerSettings
from scorer.model import load_model, prior
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier

ROOT = Path(__file__).resolve().parents[1]


def offline(n: int) -> dict[str, Any]:
    """Scoring alone, no Kafka: mean microseconds per draft for each signal, and drafts/s."""
    batch = drafts(n)
    scorer = Scorer(policy=load_policy(ROOT / "policy/default.yaml"), toxicity=ToxicityClassifier())
    model = load_model(prior())
    per_signal: dict[str, float] = {}
    started = time.perf_counter()
    for i in range(0, n, 500):
        _, stats = scorer.score_batch(batch[i : i + 500], model)
        for name, seconds in stats.seconds.items():
            per_signal[name] = per_signal.get(name, 0.0) + seconds
    elapsed = time.perf_counter() - started
    return {
        "drafts": n,
        "mean_draft_bytes": round(sum(len(d.text.encode()) for d in batch) / n),
        "drafts_per_second": round(n / elapsed),
        "microseconds_per_draft_by_signal": {
            k: round(v / n * 1e6, 1) for k, v in sorted(per_signal.items())
        },
    }


def through_broker(n: int, bootstrap_servers: str) -> dict[str, Any]:
    """One scorer process (in this process) consuming `drafts` and committing `scored`."""
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = ScorerSettings(
        kafka_bootstrap=bootstrap_servers,
        topic_prefix=prefix,
        policy_file=ROOT / "policy/default.yaml",
        transactional_id=f"bench-{uuid.uuid4().hex[:8]}",
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        metrics_port=0,
        model_wait_seconds=5,
        **dev_settings("bench"),  # the scorer verifies models: a key pair of its own
    )
    specs = [TOPICS[name] for name in ("drafts", "scored", "drafts.dlq", "scorer-models")]
    create_topics(make_admin(settings), prefix=prefix, specs=specs, partitions=6)
    publisher = EventPublisher(make_producer(settings), settings)
    for draft in drafts(n):
        publisher.publish("drafts", draft.draft_id, draft)
    publisher.flush(120)

    service = bootstrap(settings)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    started = time.perf_counter()
    thread.start()
    count_committed(bootstrap_servers, f"{prefix}scored", n, timeout=600)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(60)
    return {
        "drafts": n,
        "partitions": 6,
        "batch_size": settings.batch_size,
        "seconds": round(elapsed, 2),
        "drafts_per_second": round(n / elapsed),
        "note": "wall time from service start (includes start-up and model catch-up) to the "
        "last scored draft committed (read_committed)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drafts", type=int, default=20_000)
    parser.add_argument("--offline-drafts", type=int, default=5_000)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "scorer.json"))
    args = parser.parse_args(argv)
    bootstrap_servers = os.environ.get("HITL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")

    write_result(
        "scorer",
        {
            "offline": offline(args.offline_drafts),
            "through_broker": through_broker(args.drafts, bootstrap_servers),
        },
        args.json,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
