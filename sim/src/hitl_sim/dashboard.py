"""The demo's live terminal dashboard: pipeline, thresholds per content type, review queue."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hitl_sim.bots import ReviewerBot
from hitl_sim.live import Tally


@dataclass
class Snapshot:
    """What the review-api reports (thresholds the router published, queue and decisions)."""

    thresholds: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Rates:
    """Throughput over the last refresh interval."""

    last_at: float = field(default_factory=time.monotonic)
    last_sent: int = 0
    last_routed: int = 0
    sent_per_s: float = 0.0
    routed_per_s: float = 0.0

    def update(self, sent: int, routed: int) -> None:
        now = time.monotonic()
        span = max(1e-3, now - self.last_at)
        self.sent_per_s = (sent - self.last_sent) / span
        self.routed_per_s = (routed - self.last_routed) / span
        self.last_at, self.last_sent, self.last_routed = now, sent, routed


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def pipeline_table(tally: Tally, rates: Rates) -> Table:
    with tally.lock:
        routed = sum(tally.routed.values())
        review = sum(n for (_, route), n in tally.routed.items() if route == "needs_review")
        latencies = sorted(tally.latencies_ms)
        sent = tally.sent
    table = Table(title="pipeline", title_justify="left", expand=True)
    for column in ("drafts sent", "sent/s", "routed", "routed/s", "review rate",
                   "latency p50", "latency p99"):  # fmt: skip
        table.add_column(column, justify="right")
    p50 = f"{statistics.median(latencies):.0f} ms" if latencies else "-"
    p99 = f"{latencies[int(len(latencies) * 0.99) - 1]:.0f} ms" if len(latencies) >= 100 else "-"
    table.add_row(
        str(sent), f"{rates.sent_per_s:.0f}", str(routed), f"{rates.routed_per_s:.0f}",
        _pct(review / routed if routed else None), p50, p99,
    )  # fmt: skip
    return table


def thresholds_table(tally: Tally, snapshot: Snapshot) -> Table:
    table = Table(title="oversight per content type", title_justify="left", expand=True)
    for column in ("content type", "threshold", "mode", "version", "routed", "review rate",
                   "escape est.", "upper bound", "true escape (run)", "target"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("content type", "mode") else "right")
    by_type = {t["content_type"]: t for t in snapshot.thresholds}
    with tally.lock:
        types = sorted({ct for ct, _ in tally.routed} | set(by_type))
        counts = {
            ct: (tally.routed[(ct, "auto_approved")], tally.routed[(ct, "needs_review")],
                 tally.escapes[ct])
            for ct in types
        }  # fmt: skip
    for ct in types:
        auto, review, escapes = counts[ct]
        state = by_type.get(ct, {})
        target = state.get("target_escape_rate")
        true_escape = escapes / auto if auto else None
        over = true_escape is not None and target is not None and true_escape > target
        table.add_row(
            ct,
            f"{state['threshold']:.2f}" if "threshold" in state else "(default)",
            state.get("mode", "-"),
            str(state.get("version", "-")),
            str(auto + review),
            _pct(review / (auto + review) if auto + review else None),
            _pct(state.get("escape_estimate"), 2),
            _pct(state.get("escape_upper_bound"), 2),
            Text(_pct(true_escape, 2), style="bold red" if over else ""),
            _pct(target, 1),
        )
    return table


def review_table(snapshot: Snapshot, bots: list[ReviewerBot]) -> Table:
    table = Table(title="review", title_justify="left", expand=True)
    for column in ("tier", "queued", "oldest", "overdue", "SLA breached", "decisions",
                   "escalations", "bots"):  # fmt: skip
        table.add_column(column, justify="left" if column == "tier" else "right")
    tiers: dict[str, tuple[int, float]] = {}
    for depth in snapshot.stats.get("queue", []):
        items, oldest = tiers.get(depth["tier"], (0, 0.0))
        tiers[depth["tier"]] = (items + depth["items"], max(oldest, depth["oldest_age_seconds"]))
    decided = sum(b.stats.decided for b in bots)
    escalated = sum(b.stats.escalated for b in bots)
    totals = [
        str(snapshot.stats.get("overdue", "-")),
        str(snapshot.stats.get("sla_breached", "-")),
        str(decided),
        str(escalated),
        str(len(bots)),
    ]
    for i, (tier, (items, oldest)) in enumerate(sorted(tiers.items()) or [("-", (0, 0.0))]):
        table.add_row(tier, str(items), f"{oldest:.0f} s", *(totals if i == 0 else [""] * 5))
    return table


def render(
    tally: Tally, rates: Rates, snapshot: Snapshot, bots: list[ReviewerBot], footer: str
) -> Group:
    parts: list[Any] = [
        pipeline_table(tally, rates),
        thresholds_table(tally, snapshot),
        review_table(snapshot, bots),
    ]
    if snapshot.error:
        parts.append(Text(f"review-api: {snapshot.error}", style="yellow"))
    parts.append(Text(footer, style="dim"))
    return Group(*parts)
