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
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.live import Live

from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.topics import create_topics
from hitl_sim import dashboard
from hitl_sim.bots import ReviewerBot
from hitl_sim.live import Tally, publish, watch
from hitl_sim.procs import Supervisor, free_port
from hitl_sim.scenario import Scenario, load_scenario
from hitl_sim.world import Truth

ROOT = Path(__file__).resolve().parents[3]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
SERVICES = {"scorer": "scorer", "router": "router", "review-api": "review_api",
            "feedback": "feedback"}  # fmt: skip


def broker_answers(bootstrap: str) -> bool:
    try:
        make_admin(ServiceSettings(kafka_bootstrap=bootstrap)).list_topics(timeout=3)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    return True


def kafka_sh(command: str) -> None:
    subprocess.run(["bash", str(KAFKA_SH), command], check=True)  # noqa: S603, S607


def create_admin_key(env: dict[str, str]) -> str:
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "review_api",
            "create-reviewer",
            "--id",
            "demo-admin",
            "--name",
            "Demo admin",
            "--role",
            "admin",
            "--tier",
            "senior",
        ],  # fmt: skip
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def wait_healthy(base: str, supervisor: Supervisor, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead := supervisor.dead():
            raise RuntimeError(f"{dead} exited at start; see {supervisor.logs}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.3)  # polling a starting server, bounded by the deadline
    raise RuntimeError(f"review-api did not answer on {base} within {timeout:.0f} s")


def make_bots(
    base: str, admin_key: str, scenario: Scenario, policy: Policy, truths: dict[str, Truth],
    *, count: int, time_scale: float, seed: int,
) -> list[ReviewerBot]:  # fmt: skip
    """A quarter of the bots (at least one) sit in the top tier: high-risk types and
    escalations need them."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    reasons = {name: list(ct.reason_codes) for name, ct in policy.content_types.items()}
    seniors = max(1, count // 4)
    bots = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for n in range(count):
            tier = policy.tiers[-1] if n < seniors else policy.tiers[0]
            reviewer_id = f"bot-{n:03d}"
            client.post(
                "/v1/admin/reviewers",
                json={
                    "id": reviewer_id,
                    "display_name": f"Bot {n}",
                    "role": "reviewer",
                    "tier": tier,
                },  # fmt: skip
            ).raise_for_status()
            key = client.post(f"/v1/admin/reviewers/{reviewer_id}/keys").json()["api_key"]
            bots.append(
                ReviewerBot(
                    reviewer_id=reviewer_id,
                    api_key=key,
                    truths=truths,
                    reason_codes=reasons,
                    accuracy=scenario.reviewers.accuracy,
                    false_reject_rate=scenario.reviewers.false_reject_rate,
                    unsure_rate=scenario.reviewers.unsure_rate,
                    seconds_per_item=scenario.reviewers.seconds_per_item,
                    time_scale=time_scale,
                    can_escalate=tier != policy.tiers[-1],
                    rng=random.Random(seed * 1000 + n),
                )
            )
    return bots


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


def demo_policy(source: Path, floor: float, state: Path) -> Path:
    """The policy file with a higher audit floor for every type: certification needs uniform
    audits above each candidate threshold, and at a demo's few drafts per second the default
    2 % floor takes an hour to gather them. Targets, thresholds and rules are unchanged."""
    if floor <= 0:
        return source
    raw = yaml.safe_load(source.read_text())
    for ct in raw.get("content_types", {}).values():
        ct.setdefault("audit", {})["floor"] = max(floor, ct.get("audit", {}).get("floor", 0))
    path = state / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def service_env(base: dict[str, str], name: str, state: Path, port: int) -> dict[str, str]:
    env = dict(base)
    if name == "review-api":
        env["HITL_HTTP_PORT"] = str(port)
    else:
        env["HITL_METRICS_PORT"] = str(free_port())
        env["HITL_INSTANCE_ID"] = f"demo-{name}"
    if name == "router":
        env["HITL_DATA_DIR"] = str(state / "router")
    return env


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
    policy_file = demo_policy(args.policy, args.audit_floor, state)
    policy = load_policy(policy_file)
    scenario = load_scenario(args.scenario)
    scenario.check_against(policy)
    bootstrap = os.environ.get("HITL_KAFKA_BOOTSTRAP", "")
    started_broker = False
    if not bootstrap:
        bootstrap = "127.0.0.1:9092"
        if not broker_answers(bootstrap):
            console.print("starting the local Kafka broker (deploy/local/kafka.sh)...")
            kafka_sh("start")
            started_broker = True
    settings = ServiceSettings(kafka_bootstrap=bootstrap, topic_prefix=f"{run_id}.")
    create_topics(make_admin(settings), prefix=settings.topic_prefix, partitions=3)
    port = free_port(args.port)
    base_env = os.environ | {
        "HITL_KAFKA_BOOTSTRAP": bootstrap,
        "HITL_TOPIC_PREFIX": settings.topic_prefix,
        "HITL_POLICY_FILE": str(policy_file),
        "HITL_DATABASE_URL": f"sqlite+aiosqlite:///{state / 'review.db'}",
        "HITL_LOG_LEVEL": "INFO",
    }
    supervisor = Supervisor(state)
    stop = threading.Event()
    try:
        admin_key = create_admin_key(base_env)
        for name, module in SERVICES.items():
            supervisor.start(name, module, service_env(base_env, name, state, port))
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, supervisor)
        truths: dict[str, Truth] = {}
        bots = make_bots(base, admin_key, scenario, policy, truths,
                         count=args.reviewers or scenario.reviewers.count,
                         time_scale=args.time_scale, seed=scenario.seed)  # fmt: skip
        tally = Tally()
        publisher = EventPublisher(make_producer(settings), settings)
        threads = [
            threading.Thread(target=publish, args=(scenario, publisher, truths, tally, stop),
                             kwargs={"rate": args.rate, "run_id": run_id}, daemon=True),
            threading.Thread(target=watch, args=(settings, truths, tally, stop), daemon=True),
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        footer = (
            f"run {run_id} · broker {bootstrap} · reviewer page {base}/ui/ (sign in with the key "
            f"in {state / 'admin.key'}) · API {base}/docs · logs {state} · Ctrl-C stops everything"
        )
        (state / "admin.key").write_text(admin_key + "\n")
        (state / "admin.key").chmod(0o600)
        asyncio.run(run_live(base, admin_key, bots, tally, supervisor,
                             duration=args.duration, stop_after=args.stop_after_decisions,
                             footer=footer, console=console))  # fmt: skip
        return _summary(console, tally, bots)
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
