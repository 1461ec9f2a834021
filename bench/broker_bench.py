"""Broker benchmark: the raw broker's produce and consume throughput, by Kafka's own perf tools.

The ceiling that no pipeline through this broker on this machine can beat.

    uv run python -m bench.broker_bench [--records 500000] [--json bench/results/broker.json]

Runs org.apache.kafka.tools.ProducerPerformance (acks=all, unthrottled) then ConsumerPerformance
on a fresh topic, from the jars deploy/local/kafka.sh resolves (deploy/local/pom.xml pulls in
kafka-tools). Needs java and a broker (HITL_KAFKA_BOOTSTRAP, else 127.0.0.1:9092;
`make kafka-up`). The tools connect with PLAINTEXT and no credentials.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.common import write_result
from hitl_runtime.kafka import make_admin
from hitl_runtime.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
# kafka.sh keeps its state at a fixed place (no env var moves it); the tools use the same jars.
JARS = ROOT / ".local" / "kafka" / "jars"
LOG4J = ROOT / "deploy" / "local" / "log4j2.properties"
RESOLVE_HINT = (
    f"mvn -q -B -f {ROOT / 'deploy/local/pom.xml'} dependency:copy-dependencies "
    f"-DoutputDirectory={JARS} -DincludeScope=runtime"
)

# The final summary only; progress lines every 5 s share the prefix but stop at max latency.
_PRODUCE_SUMMARY = re.compile(
    r"^(?P<sent>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, "
    r"(?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th",
    re.MULTILINE,
)
_CONSUME_HEADER = "start.time, end.time,"


def _tools() -> tuple[str, str]:
    """The java executable and the kafka-tools version, or a RuntimeError that names the fix."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "java not found: install a Java 17+ runtime (deploy/local/kafka.sh needs it too)"
        )
    found = sorted(JARS.glob("kafka-tools-[0-9]*.jar"))
    if not found:
        raise RuntimeError(
            f"no kafka-tools jar in {JARS}: resolve the jars of deploy/local/pom.xml with\n"
            f"  {RESOLVE_HINT}\n"
            "(deploy/local/kafka.sh start does it too, but only when it starts a stopped broker)"
        )
    return java, found[-1].name.removeprefix("kafka-tools-").removesuffix(".jar")


def _run(java: str, main_class: str, args: list[str], timeout: float) -> str:
    argv = [
        java,
        "-Xmx512m",  # what kafka-producer-perf-test.sh and kafka-consumer-perf-test.sh give
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        # The tools format numbers with the default locale; a decimal comma would break parsing.
        "-Duser.language=en",
        "-Duser.country=US",
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        f"{JARS}/*",
        main_class,
        *args,
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv: our java, Kafka's own tool classes
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{main_class} did not finish within {timeout:.0f}s") from exc
    # The log config sends client INFO lines to stdout; keep them only to explain a failure.
    if done.returncode != 0:
        tail = f"{done.stderr[-3000:]}\n{done.stdout[-3000:]}"
        raise RuntimeError(f"{main_class} exited with {done.returncode}:\n{tail}")
    return done.stdout


def parse_producer(stdout: str) -> dict[str, float]:
    """The numbers of ProducerPerformance's final summary line."""
    match = _PRODUCE_SUMMARY.search(stdout)
    if match is None:
        raise RuntimeError(f"no ProducerPerformance summary in its output:\n{stdout[-3000:]}")
    return {key: float(value) for key, value in match.groupdict().items()}


def parse_consumer(stdout: str) -> dict[str, str]:
    """ConsumerPerformance's header and stats line, field by field (dates stay strings)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(_CONSUME_HEADER):
            header = [name.strip() for name in line.split(",")]
            # Client log lines can fall between the header and the stats; they start with '[' or
            # a tab, the stats line with its start date.
            for stats in lines[i + 1 :]:
                values = [value.strip() for value in stats.split(",")]
                if len(values) == len(header) and re.match(r"\d{4}-\d{2}-\d{2} ", stats):
                    return dict(zip(header, values, strict=True))
    raise RuntimeError(f"no ConsumerPerformance stats in its output:\n{stdout[-3000:]}")


def _create_topic(admin: AdminClient, name: str, partitions: int) -> None:
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        operation_timeout=30,
        request_timeout=30,
    )
    futures[name].result(timeout=30)


def _delete_topic(admin: AdminClient, name: str) -> None:
    futures = admin.delete_topics([name], operation_timeout=30, request_timeout=30)
    futures[name].result(timeout=30)


def broker_ceiling(
    bootstrap: str, *, records: int = 500_000, record_size: int = 1024, partitions: int = 6
) -> dict[str, Any]:
    """Produce `records` records of `record_size` bytes (acks=all, unthrottled) into a fresh topic
    of `partitions` partitions, then consume them all; the topic is deleted afterwards.

    Consume rates count fetching only: the tool's time to join its group is reported apart, as
    `consume_group_join_ms`, and included in `consume_wall_records_per_second`.
    """
    java, version = _tools()
    admin = make_admin(ServiceSettings(kafka_bootstrap=bootstrap, service_name="bench"))
    topic = f"broker-bench-{uuid.uuid4().hex[:12]}"
    # Generous: a slow disk at 1 MB/s still finishes; a hung tool does not hold the run forever.
    timeout = 120 + records * record_size / 1_000_000
    _create_topic(admin, topic, partitions)
    try:
        produced = parse_producer(
            _run(
                java,
                "org.apache.kafka.tools.ProducerPerformance",
                [
                    "--bootstrap-server",
                    bootstrap,
                    "--topic",
                    topic,
                    "--num-records",
                    str(records),
                    "--record-size",
                    str(record_size),
                    "--throughput",
                    "-1",
                    "--command-property",
                    "acks=all",
                ],
                timeout,
            )
        )
        consumed = parse_consumer(
            _run(
                java,
                "org.apache.kafka.tools.ConsumerPerformance",
                [
                    "--bootstrap-server",
                    bootstrap,
                    "--topic",
                    topic,
                    "--num-records",
                    str(records),
                    "--group",
                    f"broker-bench-{uuid.uuid4().hex[:12]}",
                ],
                timeout,
            )
        )
    finally:
        _delete_topic(admin, topic)
    # Both tools end normally on a short count (the consumer after 10 s without records).
    if int(produced["sent"]) != records:
        raise RuntimeError(f"ProducerPerformance sent {produced['sent']:.0f} of {records} records")
    if int(consumed["data.consumed.in.nMsg"]) != records:
        raise RuntimeError(
            f"ConsumerPerformance read {consumed['data.consumed.in.nMsg']} of {records} records"
        )
    return {
        "records": records,
        "record_bytes": record_size,
        "partitions": partitions,
        "produce_records_per_second": round(produced["rps"]),
        "produce_mb_per_second": produced["mbps"],
        "produce_avg_ms": produced["avg"],
        "produce_p50_ms": produced["p50"],
        "produce_p99_ms": produced["p99"],
        "produce_max_ms": produced["max"],
        "consume_records_per_second": round(float(consumed["fetch.nMsg.sec"])),
        "consume_mb_per_second": round(float(consumed["fetch.MB.sec"]), 2),
        "consume_wall_records_per_second": round(float(consumed["nMsg.sec"])),
        "consume_group_join_ms": int(consumed["rebalance.time.ms"]),
        "tool": f"kafka-tools {version} ProducerPerformance/ConsumerPerformance",
        "note": "MB = 2^20 bytes, as the tools count; acks=all, tool defaults otherwise "
        "(linger.ms=5, batch.size=16384, no compression); unthrottled, so produce latency is "
        "mostly time queued in the producer's buffer, not the broker's; the tools' JVM shares "
        "this machine's CPUs with the broker",
    }


def _table(result: dict[str, Any]) -> str:
    rows = [
        ("produce", result["produce_records_per_second"], result["produce_mb_per_second"]),
        ("consume", result["consume_records_per_second"], result["consume_mb_per_second"]),
    ]
    lines = [
        f"broker ceiling: {result['records']} x {result['record_bytes']} B records, "
        f"{result['partitions']} partitions ({result['tool']})",
        f"{'':8} {'records/s':>12} {'MB/s':>9}",
        *(f"{name:8} {rps:>12,} {mbps:>9.2f}" for name, rps, mbps in rows),
        f"produce p50 {result['produce_p50_ms']:.0f} ms, p99 {result['produce_p99_ms']:.0f} ms; "
        f"consumer group join {result['consume_group_join_ms']} ms (not in consume rate)",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "broker.json"))
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("HITL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    result = broker_ceiling(
        bootstrap, records=args.records, record_size=args.record_size, partitions=args.partitions
    )
    write_result("broker", {"ceiling": result}, args.json)
    sys.stdout.write(_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
