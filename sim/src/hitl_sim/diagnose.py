"""What a chaos run still owes when its deadline passes: ids per stage, consumer lag per group,
and for each service whether it is up and when each of its stages last made progress; and the
broker's side of a stall: each group's state and members' assignments, and the run's
transactions with their state (a transaction stuck open, or markers never written, keeps a
read_committed consumer from ever reading past it).

Printed and written into the run's JSON, so a timed-out run (in CI, say) says where it stuck
instead of only that it did.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from typing import Any

import httpx
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from hitl_runtime.kafka import make_admin, make_consumer
from hitl_runtime.settings import ServiceSettings
from hitl_sim.audit import Flow, owed
from hitl_sim.infra import KAFKA_JARS
from hitl_sim.procs import Supervisor

_AGE = re.compile(r'^hitl_stage_progress_age_seconds\{service="([^"]+)",stage="([^"]+)"\} (\S+)$')


def stage_ages(metrics_text: str) -> dict[str, float]:
    """`service/stage` -> seconds since its last progress, from a /metrics page."""
    ages = {}
    for line in metrics_text.splitlines():
        match = _AGE.match(line)
        if match:
            ages[f"{match[1]}/{match[2]}"] = round(float(match[3]), 1)
    return ages


def group_lag(admin: AdminClient, consumer: Consumer, prefix: str) -> dict[str, dict[str, int]]:
    """Per consumer group of this run: `topic[partition]` -> end offset minus committed offset
    (transaction markers count, so a caught-up transactional input can read 1)."""
    listed = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
    groups = sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))
    out: dict[str, dict[str, int]] = {}
    if not groups:
        return out
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(g) for g in groups], request_timeout=10
    )
    for group, future in futures.items():
        lags: dict[str, int] = {}
        for tp in future.result(timeout=15).topic_partitions or []:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=5
            )
            committed = tp.offset if tp.offset >= 0 else 0
            lags[f"{tp.topic.removeprefix(prefix)}[{tp.partition}]"] = max(0, high - committed)
        out[group] = lags
    return out


def group_states(admin: AdminClient, prefix: str) -> dict[str, Any]:
    """Per consumer group of this run: its state and each member's assigned partitions."""
    listed = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
    groups = sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))
    out: dict[str, Any] = {}
    for group, future in admin.describe_consumer_groups(groups, request_timeout=10).items():
        described = future.result(timeout=15)
        out[group] = {
            "state": str(described.state),
            "members": {
                m.client_id: sorted(
                    f"{tp.topic.removeprefix(prefix)}[{tp.partition}]"
                    for tp in (m.assignment.topic_partitions if m.assignment else [])
                )
                for m in described.members
            },
        }
    return out


def transactions(bootstrap: str, prefix: str) -> list[str]:
    """The run's transactional ids with state and producer epoch, from Kafka's own
    TransactionsCommand (the broker's jars), or why they could not be read."""
    command = ["java", "-cp", str(KAFKA_JARS / "*"),
               "org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", bootstrap,
               "list"]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"unavailable: {type(exc).__name__}"]
    lines = [line.strip() for line in done.stdout.splitlines() if line.startswith(prefix)]
    return lines or [f"none listed (exit {done.returncode}): {done.stderr[-300:]}"]


def diagnose(
    settings: ServiceSettings, flow: Flow, supervisor: Supervisor, metrics_urls: dict[str, str]
) -> dict[str, Any]:
    report: dict[str, Any] = {"owed": owed(flow)}
    processes: dict[str, Any] = {}
    for name, (proc, _) in supervisor.procs.items():
        entry: dict[str, Any] = {"pid": proc.pid, "up": proc.poll() is None}
        if proc.poll() is not None:
            entry["exit_status"] = proc.returncode
        url = metrics_urls.get(name)
        if url and entry["up"]:
            try:
                entry["stage_progress_age_s"] = stage_ages(httpx.get(url, timeout=3).text)
            except httpx.HTTPError as exc:
                entry["metrics_error"] = type(exc).__name__
        processes[name] = entry
    report["processes"] = processes
    try:
        consumer = make_consumer(settings, group_id=f"{settings.topic_prefix}diag-{uuid.uuid4()}")
        try:
            admin = make_admin(settings)
            report["group_lag"] = group_lag(admin, consumer, settings.topic_prefix)
            report["groups"] = group_states(admin, settings.topic_prefix)
        finally:
            consumer.close()
    except Exception as exc:  # noqa: BLE001 - a report must not fail on an absent broker
        report["group_lag_error"] = f"{type(exc).__name__}: {exc}"[:300]
    report["transactions"] = transactions(settings.kafka_bootstrap, settings.topic_prefix)
    return report


def render_report(report: dict[str, Any]) -> str:
    lines = ["what the run still owes at its deadline:"]
    for stage, ids in report["owed"].items():
        lines.append(f"  {stage}: {', '.join(ids)}{' ...' if len(ids) >= 20 else ''}")
    for name, entry in report["processes"].items():
        lines.append(f"  process {name}: {entry}")
    for group, lags in report.get("group_lag", {}).items():
        lines.append(f"  group {group}: lag {lags}")
    for group, described in report.get("groups", {}).items():
        lines.append(f"  group {group}: {described}")
    for line in report.get("transactions", []):
        lines.append(f"  transaction {line}")
    if "group_lag_error" in report:
        lines.append(f"  group lag unavailable: {report['group_lag_error']}")
    return "\n".join(lines)
