"""Prometheus metrics every service exports, and the /metrics endpoint.

Naming: `hitl_` prefix, base units (seconds, records, ratios), `_total` counters, histograms for
latencies and sizes. Service-specific metrics live in the service but follow the same rules.
Every metric is in the table of docs/metrics.md (a unit test keeps it complete).
"""

from __future__ import annotations

import threading
from collections.abc import Container
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, MetricsHandler

if TYPE_CHECKING:
    from hitl_runtime.health import Health

# The one label value every content type the policy does not name shares. Content types come
# from producers: one series per made-up type would let any producer grow every service's
# metrics without bound (2,000 invented types were 4,000 series per service). A real type
# starts with a letter (the Draft schema's pattern), so this value can never be one.
UNKNOWN_CONTENT_TYPE = "_unknown"


def content_type_label(content_type: str, known: Container[str]) -> str:
    """The `content_type` label value for `content_type`: itself when it is `known` (the
    policy's types, `policy.content_types`), else UNKNOWN_CONTENT_TYPE. Every metric labelled
    by content type goes through this, so its series are bounded by the policy."""
    return content_type if content_type in known else UNKNOWN_CONTENT_TYPE


MESSAGES_CONSUMED = Counter(
    "hitl_messages_consumed_total", "Records consumed, per topic.", ["service", "topic"]
)
MESSAGES_PRODUCED = Counter(
    "hitl_messages_produced_total", "Records produced, per topic.", ["service", "topic"]
)
DLQ_MESSAGES = Counter(
    "hitl_dlq_messages_total",
    "Records sent to a dead-letter topic, per source topic and error kind.",
    ["service", "topic", "kind"],
)
OUTPUTS_SHRUNK = Counter(
    "hitl_outputs_shrunk_total",
    "Events published without their span lists (counts kept) to stay within the size limit.",
    ["service", "topic"],
)
DUPLICATES_DROPPED = Counter(
    "hitl_duplicates_dropped_total",
    "Re-sent events dropped because their id was seen recently (see hitl_runtime.recent).",
    ["service", "topic"],
)
UNVERIFIED_EVENTS = Counter(
    "hitl_unverified_events_total",
    "Records refused because no trusted key signed them (hitl_runtime.signing), per topic and "
    "reason.",
    ["service", "topic", "reason"],
)
SIGNING_DISABLED = Gauge(
    "hitl_signing_disabled",
    "1 when this service runs with HITL_SIGNING_DISABLED=true (signs nothing, verifies nothing).",
    ["service"],
)
PROCESSING_SECONDS = Histogram(
    "hitl_processing_seconds",
    "Time to process one batch (transaction commit included), per service and stage.",
    ["service", "stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
END_TO_END_SECONDS = Histogram(
    "hitl_end_to_end_seconds",
    "Time from the draft's created_at to this service's output, per service.",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
BATCH_SIZE = Histogram(
    "hitl_batch_size_records",
    "Records per consumed batch, per service and stage.",
    ["service", "stage"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
CONSUMER_LAG = Gauge(
    "hitl_consumer_lag_records",
    "Records on a partition this replica has not consumed yet (end offset - position).",
    ["service", "topic", "partition"],
)


def serve_metrics(
    port: int, *, health: Health | None = None, stall_seconds: float = 60.0
) -> ThreadingHTTPServer | None:
    """Start the /metrics endpoint on all interfaces (Prometheus scrapes it); 0 disables it.

    With `health`, the same port answers the probes: `/livez` 503 once the watchdog found a
    stage stuck, `/readyz` 200 when every stage has joined and made progress within
    `stall_seconds`."""
    if not port:
        return None

    class Handler(MetricsHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            path = self.path.split("?", 1)[0]
            if health is not None and path in ("/livez", "/readyz"):
                ok = health.live() if path == "/livez" else health.ready(stall_seconds)
                body = b"ok\n" if ok else f"not {path[1:-1]}: {health.stalled}\n".encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # probes every few seconds are not news

    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
