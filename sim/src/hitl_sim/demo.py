"""`make demo`: the whole loop, live, on one machine, no Docker.

Starts the local Kafka broker unless HITL_KAFKA_BOOTSTRAP names one, creates a fresh set of
topics for this run, starts the four services (review-api on SQLite), creates reviewer bots
through review-api's admin API, publishes the scenario's drafts at a steady rate and shows a live
dashboard. Ctrl-C (or --duration) stops everything it started, the broker included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.live import Live

from hitl_sim import dashboard
from hitl_sim.bots import ReviewerBot
from hitl_sim.live import Tally, publish, watch
from hitl_sim.procs import Supervisor
from hitl_sim.stack import ensure_broker, kafka_sh, start_stack

ROOT = Path(__file__).resolve().parents[3]


async def _poll(client: httpx.AsyncClient, snapshot: dashboard.Snapshot) -> None:
    try:
        thresholds = await client.get("/v1/thresholds")
        stats = await client.get("/v1/stats")
        thresholds.raise_for_status()
        stats.raise_for_status()
        snapshot.thresholds, snapshot.stats, snapshot.error = thresholds.json(), stats.json(), None
    except httpx.HTTPError as exc:
        snapshot.error = f"{type(exc).__name__}: {exc}"


async def run_live(
    base: str, admin_key: str, bots: list[ReviewerBot], tally: Tally, supervisor: Supervisor,
    *, duration: float, stop_after: int, footer: str, console: Console,
) -> None:  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    snapshot, rates = dashboard.Snapshot(), dashboard.Rates()
    limits = httpx.Limits(max_connections=len(bots) + 4)
    async with (
        httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client,
        httpx.AsyncClient(
            base_url=base, timeout=5, headers={"Authorization": f"Bearer {admin_key}"}
        ) as admin,
    ):
        tasks = [asyncio.create_task(bot.run(client, stop)) for bot in bots]
        ends = time.monotonic() + duration if duration > 0 else float("inf")
        with Live(console=console, refresh_per_second=2, screen=False) as live:
            while not stop.is_set() and time.monotonic() < ends:
                if stop_after and sum(b.stats.decided for b in bots) >= stop_after:
                    break
                await _poll(admin, snapshot)
                if dead := supervisor.dead():
                    snapshot.error = f"service exited: {', '.join(dead)}; see {supervisor.logs}"
                with tally.lock:
                    sent = tally.sent
                rates.update(sent, tally.routed_total())
                live.update(dashboard.render(tally, rates, snapshot, bots, footer))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hitl-sim demo", description=__doc__.split("\n")[0])
    p.add_argument("--scenario", type=Path, default=ROOT / "bench" / "scenarios" / "steady.yaml")
    p.add_argument("--policy", type=Path, default=ROOT / "policy" / "default.yaml")
    p.add_argument("--rate", type=float, default=25.0, help="drafts per second (default 25)")
    p.add_argument("--reviewers", type=int, help="bots (default: the scenario's count)")
    p.add_argument("--time-scale", type=float, default=0.01,
                   help="review time multiplier: 0.01 makes 30 s of reading 0.3 s")  # fmt: skip
    p.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until Ctrl-C")
    p.add_argument("--port", type=int, default=8080, help="review-api port (if free)")
    p.add_argument("--audit-floor", type=float, default=0.10,
                   help="audit floor for the demo run (default 0.10, so thresholds certify in "
                   "minutes, not hours); 0 runs the policy file as it is")  # fmt: skip
    p.add_argument("--cold-start", choices=("default_threshold", "review_all"),
                   default="default_threshold",
                   help="every type's cold start for the demo run (default default_threshold: "
                   "the bots review ~12 drafts/s, fewer than the demo publishes, so reviewing "
                   "all would only grow the queue); review_all: as the policy ships")  # fmt: skip
    p.add_argument("--stop-after-decisions", type=int, default=0,
                   help="stop once the bots have decided this many items (0: never)")  # fmt: skip
    return p.parse_args(argv)


@dataclass(frozen=True)
class Summary:
    sent: int
    routed: int
    auto_approved: int
    true_escapes: int
    decided: int
    bot_errors: int


def main(argv: list[str] | None = None) -> int:
    summary = run(parse(argv), Console())
    return 0 if summary.routed else 1


def run(args: argparse.Namespace, console: Console) -> Summary:
    run_id = f"demo{uuid.uuid4().hex[:6]}"
    state = ROOT / ".local" / "demo" / run_id
    state.mkdir(parents=True, exist_ok=True)
    bootstrap, started_broker = ensure_broker(console)
    supervisor = Supervisor(state)
    stop = threading.Event()
    try:
        stack = start_stack(
            supervisor, run_id=run_id, bootstrap=bootstrap,
            database_url=f"sqlite+aiosqlite:///{state / 'review.db'}",
            scenario_file=args.scenario, policy_file=args.policy, audit_floor=args.audit_floor,
            cold_start=args.cold_start, port=args.port, reviewers=args.reviewers,
            time_scale=args.time_scale,
        )  # fmt: skip
        tally = Tally()
        threads = [
            threading.Thread(target=publish,
                             args=(stack.scenario, stack.publisher, stack.truths, tally, stop),
                             kwargs={"rate": args.rate, "run_id": run_id}, daemon=True),
            threading.Thread(target=watch, args=(stack.settings, stack.truths, tally, stop),
                             daemon=True),
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        base = stack.base
        footer = (
            f"run {run_id} · broker {bootstrap} · reviewer page {base}/ui/ (sign in with the key "
            f"in {state / 'admin.key'}) · API {base}/docs · logs {state} · Ctrl-C stops everything"
        )
        (state / "admin.key").write_text(stack.admin_key + "\n")
        (state / "admin.key").chmod(0o600)
        asyncio.run(run_live(base, stack.admin_key, stack.bots, tally, supervisor,
                             duration=args.duration, stop_after=args.stop_after_decisions,
                             footer=footer, console=console))  # fmt: skip
        return _summary(console, tally, stack.bots)
    finally:
        stop.set()
        supervisor.stop_all()
        if started_broker:
            kafka_sh("stop")


def _summary(console: Console, tally: Tally, bots: list[ReviewerBot]) -> Summary:
    with tally.lock:
        summary = Summary(
            sent=tally.sent,
            routed=sum(tally.routed.values()),
            auto_approved=sum(n for (_, r), n in tally.routed.items() if r == "auto_approved"),
            true_escapes=sum(tally.escapes.values()),
            decided=sum(b.stats.decided for b in bots),
            bot_errors=sum(b.stats.errors for b in bots),
        )
    console.print()
    console.print(
        f"sent {summary.sent}, routed {summary.routed}, auto-approved {summary.auto_approved}, "
        f"true escapes {summary.true_escapes}, decisions by bots {summary.decided}"
    )
    return summary
