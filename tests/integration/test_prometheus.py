"""The alert rules under promtool, and a real Prometheus scraping a running service.

Needs Debian's `prometheus` package (the `prometheus` and `promtool` binaries): a machine without
it fails these tests, it does not skip them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from hitl_runtime.kafka import EventPublisher
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import examples
from testkit import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"
INSTALL = "install Debian's prometheus package: apt-get install prometheus"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH; {INSTALL}")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments, our own files
        list(args), capture_output=True, text=True, timeout=120, check=False, cwd=RULES
    )


def test_the_alert_rules_are_valid() -> None:
    result = run(binary("promtool"), "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_promtool_unit_tests() -> None:
    result = run(binary("promtool"), "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each dashboard query, its Grafana variables given values, parsed by promtool as the
    expression of a recording rule."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/hitl-gate.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs
    grafana = {"$__rate_interval": "1m", "$content_type": ".*"}
    rules = []
    for i, expr in enumerate(exprs):
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(binary("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM, wait, and the tail of its stderr (for a failing assertion's message)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    return (err or b"").decode(errors="replace")[-3000:]


class PrometheusServer:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url, self.proc = url, proc

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as resp:  # noqa: S310 - loopback
            return (
                json.loads(resp.read())
                if resp.headers.get_content_type() == "application/json"
                else resp.read()
            )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {stop(self.proc)}")
        try:
            self.get("/-/ready")
        except OSError:
            return False
        return True

    def value(self, promql: str) -> float | None:
        """The value of an instant query with one result, None while it has none."""
        body = self.get("/api/v1/query", query=promql)
        assert body["status"] == "success", body
        result = body["data"]["result"]
        assert len(result) <= 1, f"{promql}: several series {result}"
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus_factory(
    tmp_path: Path,
) -> Iterator[Callable[[dict[str, list[str]]], PrometheusServer]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(jobs: dict[str, list[str]]) -> PrometheusServer:
        # One-second scrapes, so the test waits seconds, not the default minute.
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES / "alerts.yml")],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in jobs.items()
            ],
        }
        path = tmp_path / "prometheus.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        port = free_port()
        proc = subprocess.Popen(  # noqa: S603 - the Debian binary, our arguments
            [
                binary("prometheus"),
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        server = PrometheusServer(f"http://127.0.0.1:{port}", proc)
        wait_for(server.ready, timeout=60, what="prometheus to be ready")
        return server

    yield start
    for proc in started:
        stop(proc)


@pytest.fixture
def scorer_with_metrics(
    settings: ServiceSettings, topics: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m scorer` on this test's topics, its /metrics on a free port."""
    port = free_port()
    env = os.environ | {
        "HITL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HITL_TOPIC_PREFIX": topics,
        "HITL_POLICY_FILE": str(ROOT / "policy" / "default.yaml"),
        "HITL_TRANSACTIONAL_ID": f"tx-{uuid.uuid4().hex[:8]}",
        "HITL_GROUP_ID": f"scorer-{uuid.uuid4().hex[:8]}",
        "HITL_SERVICE_NAME": "scorer",
        "HITL_METRICS_PORT": str(port),
        "HITL_MODEL_WAIT_SECONDS": "1",
    }
    proc = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "scorer"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield f"127.0.0.1:{port}", proc
    finally:
        err = stop(proc)
        assert proc.returncode == 0, err


def test_prometheus_scrapes_the_scorer_and_serves_its_metrics_back(
    scorer_with_metrics: tuple[str, subprocess.Popen[bytes]],
    prometheus_factory: Callable[[dict[str, list[str]]], PrometheusServer],
    producer_factory: Callable[..., Producer],
    settings: ServiceSettings,
) -> None:
    target, scorer = scorer_with_metrics
    prometheus = prometheus_factory({"hitl-scorer": [target]})
    publisher = EventPublisher(producer_factory(), settings)
    count = 25
    for i in range(count):
        publisher.publish("drafts", f"d-{i:03d}", examples.draft(draft_id=f"d-{i:03d}"))
    publisher.flush()

    def alive() -> None:
        if scorer.poll() is not None:
            raise AssertionError(f"the scorer exited: {stop(scorer)}")

    def consumed() -> bool:
        alive()
        value = prometheus.value(
            'sum(hitl_messages_consumed_total{job="hitl-scorer",topic="drafts"})'
        )
        # Produced counts on delivery, after the commit: a scrape between the two sees the
        # drafts consumed and nothing produced yet, so wait for both.
        out = prometheus.value(
            'sum(hitl_messages_produced_total{job="hitl-scorer",topic="scored"})'
        )
        return value is not None and value >= count and out is not None and out >= count

    wait_for(consumed, timeout=90, interval=0.5, what="Prometheus to see the drafts consumed")
    assert prometheus.value('up{job="hitl-scorer"}') == 1
    produced = prometheus.value(
        'sum(hitl_messages_produced_total{job="hitl-scorer",topic="scored"})'
    )
    assert produced == count
    batches = prometheus.value(
        'sum(hitl_batch_size_records_sum{job="hitl-scorer",service="scorer",stage="score"})'
    )
    assert batches == count

    def caught_up() -> bool:
        alive()
        return (
            prometheus.value('sum(hitl_consumer_lag_records{job="hitl-scorer",topic="drafts"})')
            == 0
        )

    # The lag is exported once the partition has given a record, and reads 0 once all are in.
    wait_for(caught_up, timeout=60, interval=0.5, what="the scorer's consumer lag to reach 0")
    rules = prometheus.get("/api/v1/rules")["data"]["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} >= {
        "HitlServiceDown",
        "HitlConsumerLagGrowing",
    }
