"""The whole pipeline on one machine: what the demo, the crash suite and the soak each run.

`start_stack` creates a run's topics, starts the four services under a Supervisor, waits for
review-api, creates the reviewer bots through its admin API and a publisher for the simulator.
The helpers around it (the local broker, the demo policy, the services' environment) are the
same for all three.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from rich.console import Console

from hitl_runtime.kafka import EventPublisher, make_admin, make_producer
from hitl_runtime.policy import Policy, load_policy
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import dev_service_env
from hitl_runtime.topics import create_topics
from hitl_sim.bots import ReviewerBot
from hitl_sim.infra import KAFKA_SH
from hitl_sim.procs import Supervisor, free_port
from hitl_sim.scenario import Scenario, load_scenario
from hitl_sim.world import Truth

ROOT = Path(__file__).resolve().parents[3]
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


def ensure_broker(console: Console) -> tuple[str, bool]:
    """HITL_KAFKA_BOOTSTRAP's cluster, else the local broker, started if it is not running.
    Returns the bootstrap address and whether this call started the broker (to stop it)."""
    bootstrap = os.environ.get("HITL_KAFKA_BOOTSTRAP", "")
    if bootstrap:
        return bootstrap, False
    bootstrap = "127.0.0.1:9092"
    if broker_answers(bootstrap):
        return bootstrap, False
    status = subprocess.run(  # noqa: S603 - our own script
        ["bash", str(KAFKA_SH), "status"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if status.returncode == 0:
        # Running but slow to answer (a loaded machine): not ours to stop at the end. Saying
        # "started" here once stopped a broker shared by everyone on the machine.
        return bootstrap, False
    console.print("starting the local Kafka broker (deploy/local/kafka.sh)...")
    kafka_sh("start")
    return bootstrap, True


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


def wait_healthy(base: str, supervisor: Supervisor, timeout: float = 180) -> None:
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


def demo_policy(source: Path, floor: float, state: Path, cold_start: str | None = None) -> Path:
    """The policy file with a higher audit floor for every type: certification needs uniform
    audits above each candidate threshold, and at a demo's few drafts per second the default
    2 % floor takes an hour to gather them. `cold_start`, when given, is set for every type
    (high-risk types review all whatever it says). Targets, thresholds and rules are unchanged."""
    if floor <= 0 and cold_start is None:
        return source
    raw = yaml.safe_load(source.read_text())
    for ct in raw.get("content_types", {}).values():
        if floor > 0:
            ct.setdefault("audit", {})["floor"] = max(floor, ct.get("audit", {}).get("floor", 0))
        if cold_start is not None:
            ct["cold_start"] = cold_start
    path = state / "policy.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def service_base_env(
    bootstrap: str, prefix: str, policy_file: Path, database_url: str
) -> dict[str, str]:
    """The environment every service of a run shares."""
    return dict(os.environ) | {
        "HITL_KAFKA_BOOTSTRAP": bootstrap,
        "HITL_TOPIC_PREFIX": prefix,
        "HITL_POLICY_FILE": str(policy_file),
        "HITL_DATABASE_URL": database_url,
        "HITL_LOG_LEVEL": "INFO",
    }


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


@dataclass
class Stack:
    run_id: str
    state: Path
    settings: ServiceSettings
    scenario: Scenario
    base: str  # review-api
    admin_key: str
    bots: list[ReviewerBot]
    publisher: EventPublisher
    truths: dict[str, Truth] = field(default_factory=dict)
    metrics_urls: dict[str, str] = field(default_factory=dict)  # service -> /metrics


def start_stack(
    supervisor: Supervisor,
    *,
    run_id: str,
    bootstrap: str,
    database_url: str,
    scenario_file: Path,
    policy_file: Path,
    audit_floor: float = 0.10,
    cold_start: str | None = None,
    port: int | None = None,
    reviewers: int | None = None,
    time_scale: float = 0.01,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Everything running; the caller stops it with `supervisor.stop_all()`."""
    state = supervisor.logs
    policy_file = demo_policy(policy_file, audit_floor, state, cold_start)
    policy, scenario = load_policy(policy_file), load_scenario(scenario_file)
    scenario.check_against(policy)
    settings = ServiceSettings(kafka_bootstrap=bootstrap, topic_prefix=f"{run_id}.")
    create_topics(make_admin(settings), prefix=settings.topic_prefix, partitions=3)
    env = service_base_env(bootstrap, settings.topic_prefix, policy_file, database_url)
    trust, own_keys = dev_service_env()  # a key pair per writing service, fresh each run
    env |= trust | (extra_env or {})
    admin_key = create_admin_key(env | own_keys["review-api"])
    port = free_port(port)
    urls = {"review-api": f"http://127.0.0.1:{port}/metrics"}
    for name, module in SERVICES.items():
        own = service_env(env, name, state, port) | own_keys.get(name, {})
        supervisor.start(name, module, own)
        if "HITL_METRICS_PORT" in own:
            urls[name] = f"http://127.0.0.1:{own['HITL_METRICS_PORT']}/metrics"
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, supervisor)
    truths: dict[str, Truth] = {}
    bots = make_bots(base, admin_key, scenario, policy, truths,
                     count=reviewers or scenario.reviewers.count, time_scale=time_scale,
                     seed=scenario.seed)  # fmt: skip
    publisher = EventPublisher(make_producer(settings), settings)
    return Stack(run_id, state, settings, scenario, base, admin_key, bots, publisher, truths, urls)
