"""A short run of `make bench` so the benchmark code cannot rot between real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import scorer_bench

pytestmark = pytest.mark.integration


def test_scorer_benchmark_runs_and_writes_its_numbers(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "scorer.json"
    assert (
        scorer_bench.main(["--drafts", "300", "--offline-drafts", "100", "--json", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    assert result["through_broker"]["drafts"] == 300
    assert result["through_broker"]["drafts_per_second"] > 0
    assert set(result["offline"]["microseconds_per_draft_by_signal"]) == {
        "commitments",
        "form",
        "grounding",
        "pii",
        "producer_confidence",
        "tone",
        "toxicity",
    }
    assert result["offline"]["mean_draft_bytes"] > 900


def test_router_benchmark_runs_and_writes_its_numbers(kafka_bootstrap: str, tmp_path: Path) -> None:
    from bench import router_bench

    out = tmp_path / "router.json"
    args = [
        "--drafts",
        "300",
        "--latency-drafts",
        "50",
        "--latency-rate",
        "100",
        "--replay-records",
        "2000",
        "--json",
        str(out),
    ]
    assert router_bench.main(args) == 0
    result = json.loads(out.read_text())
    assert result["throughput"]["drafts_per_second"] > 0
    assert result["latency"]["received"] == 50
    assert 0 < result["latency"]["p50_ms"] <= result["latency"]["p99_ms"]
    assert result["replay"]["records"] == 2000


def test_review_benchmark_runs_and_writes_its_numbers(kafka_bootstrap: str, tmp_path: Path) -> None:
    from bench import review_bench

    out = tmp_path / "review.json"
    assert review_bench.main(["--items", "40", "--reviewers", "5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())["claim_and_decide"]
    assert result["round_trips"] == 40
    assert 0 < result["p50_ms"] <= result["p99_ms"]


def test_broker_benchmark_runs_and_writes_its_numbers(kafka_bootstrap: str, tmp_path: Path) -> None:
    from bench import broker_bench

    out = tmp_path / "broker.json"
    args = ["--records", "20000", "--record-size", "512", "--partitions", "3", "--json", str(out)]
    assert broker_bench.main(args) == 0
    result = json.loads(out.read_text())["ceiling"]
    assert (result["records"], result["record_bytes"], result["partitions"]) == (20_000, 512, 3)
    for key in (
        "produce_records_per_second",
        "produce_mb_per_second",
        "produce_p99_ms",
        "consume_records_per_second",
        "consume_mb_per_second",
    ):
        assert result[key] > 0, key
    assert result["produce_p50_ms"] <= result["produce_p99_ms"] <= result["produce_max_ms"]
    assert result["tool"].startswith("kafka-tools ")


def test_pipeline_benchmark_runs_the_services_and_writes_its_numbers(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from bench import pipeline_bench

    out = tmp_path / "pipeline.json"
    args = ["--rates", "100", "--seconds", "3", "--backlog", "500", "--ceiling-records", "10000"]
    assert pipeline_bench.main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    (steady,) = result["fixed_rate"]
    assert steady["routed"] == steady["drafts"] == 300
    assert 0 < steady["p50_ms"] <= steady["p99_ms"]
    assert result["saturation"]["routed"] == 500
    assert result["ratio_to_broker_produce_ceiling"] > 0
