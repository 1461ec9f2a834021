"""docs/metrics.md holds one table of every metric; the dashboard and the alerts use only those.

The metrics registered in code are read two ways: from prometheus-client's registry after
importing every metrics module (names and types), and by scanning the sources for metric
constructors, so a metric defined in a module nobody imports here is caught too.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "hitl-gate.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SOURCES = ["libs", "services", "schemas", "sim", "bench"]
METRIC_MODULES = [
    "hitl_runtime.metrics",
    "hitl_runtime.txn",
    "scorer.metrics",
    "router.metrics",
    "review_api.metrics",
    "feedback.metrics",
]
CONSTRUCTOR = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"([a-zA-Z_:][\w:]*)\""
)
ROW = re.compile(r"^\| `(hitl_\w+)` \| (counter|gauge|histogram) \|", re.MULTILINE)
# Series a histogram exposes besides its name, and what a query may append to a counter.
SUFFIXES = ("_bucket", "_sum", "_count", "_created")
# Recorded by Prometheus itself for every scrape target, not by our code.
PROMETHEUS_OWN = {"up"}


def documented() -> dict[str, str]:
    rows = dict(ROW.findall(DOC.read_text()))
    assert rows, f"no metric rows found in {DOC}"
    return rows


def registered() -> dict[str, str]:
    """Metric name -> type, for every `hitl_` metric in prometheus-client's default registry."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    found: dict[str, str] = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("hitl_"):
            continue  # process_* and python_*: prometheus-client's own collectors
        # A counter's family name drops `_total`; the exposed (and documented) name has it.
        name = f"{family.name}_total" if family.type == "counter" else family.name
        found[name] = family.type
    return found


def defined_in_sources() -> set[str]:
    names: set[str] = set()
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            names.update(name for _, name in CONSTRUCTOR.findall(path.read_text()))
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: every `hitl_*` identifier (suffixes of a
    histogram's series removed) and any other identifier written as `name{...}`."""
    names = {_base(n) for n in re.findall(r"\bhitl_\w+", expr)}
    selectors = re.findall(r"\b([a-zA-Z_:][\w:]*)\s*\{", expr)
    names.update(n for n in selectors if not n.startswith("hitl_"))
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    names.update(n for n in re.findall(r"\b(up)\b", bare))
    return names


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_registered_metric_is_in_the_table_with_its_type() -> None:
    table = documented()
    code = registered()
    missing = sorted(set(code) - set(table))
    assert missing == [], f"add these metrics to {DOC.relative_to(ROOT)}: {missing}"
    wrong = {name: (table[name], kind) for name, kind in code.items() if table[name] != kind}
    assert wrong == {}, f"documented type differs from the code's (doc, code): {wrong}"


def test_every_metric_defined_in_the_sources_is_in_the_table() -> None:
    missing = sorted(defined_in_sources() - set(documented()))
    assert missing == [], f"add these metrics to {DOC.relative_to(ROOT)}: {missing}"


def test_the_table_lists_no_metric_the_code_does_not_have() -> None:
    stale = sorted(set(documented()) - set(registered()))
    assert stale == [], f"documented but not in the code: {stale}"


def test_the_constructor_scan_finds_the_known_metrics() -> None:
    # Guards the regular expression: a scan that finds nothing would pass the test above.
    assert {"hitl_consumer_lag_records", "hitl_router_threshold"} <= defined_in_sources()


def _dashboard_exprs(node: Any) -> list[str]:
    """Every PromQL text in the dashboard: panel targets and query variables."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, dict) and "query" in value:
                found.append(str(value["query"]))
            else:
                found.extend(_dashboard_exprs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_dashboard_exprs(item))
    return found


def test_the_dashboard_queries_only_documented_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = _dashboard_exprs(dashboard)
    assert len(exprs) >= 20
    allowed = set(documented()) | PROMETHEUS_OWN
    unknown = {e: sorted(metric_names(e) - allowed) for e in exprs if metric_names(e) - allowed}
    assert unknown == {}
    assert all(metric_names(e) for e in exprs), "an expression that selects no metric"


def test_the_dashboard_has_its_three_rows_and_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Pipeline health", "Oversight quality", "Review operations"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_the_alerts_use_only_documented_metrics() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    allowed = set(documented()) | PROMETHEUS_OWN
    unknown = {
        r["alert"]: sorted(metric_names(r["expr"]) - allowed)
        for r in rules
        if metric_names(r["expr"]) - allowed
    }
    assert unknown == {}


def test_metric_names_reads_selectors_histograms_and_up() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(hitl_processing_seconds_bucket{stage="x"}'
        '[5m]))) + on() group_left() up{job=~"a"} + foo_bar{a="b"} + hitl_x_total'
    )
    assert metric_names(expr) == {"hitl_processing_seconds", "up", "foo_bar", "hitl_x_total"}
    assert metric_names("time() - max(hitl_feedback_model_last_published_timestamp_seconds)") == {
        "hitl_feedback_model_last_published_timestamp_seconds"
    }


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    headings = re.findall(r"^### (\S+)$", (ROOT / "docs" / "operations.md").read_text(), re.M)
    anchors = {h.lower() for h in headings}
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"], name
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/operations.md has no runbook section for {name}"
