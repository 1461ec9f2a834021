"""`hitl-sim chaos` (`make chaos`): the whole pipeline under crashes, then the invariants checked.

Runs a private broker and PostgreSQL server, the four services, reviewer bots and the simulator
publishing a fixed number of drafts. While traffic flows it kills -9 every service at random
moments (each `--kills` times, restarted after a short outage), crashes the broker once and stops
the database once. When every draft has been routed, every reviewed item decided and every
decision learned from (or a deadline passes), it stops the services, reads every topic from the
beginning with read_committed and audits the invariants of DESIGN.md (`hitl_sim.audit`): it
prints the counts, writes them as JSON and exits 1 on any loss or duplicate.

The run keeps its own deadline (`--budget`): past it, it reports what is still owed (ids per
stage, consumer lag per group, which services are up and when each stage last made progress),
stops everything it started and fails. SIGTERM and SIGINT stop it the same way, so a caller's
timeout never leaves a broker or database behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console

from hitl_runtime.settings import ServiceSettings
from hitl_sim.audit import Audit, audit, render
from hitl_sim.bots import run_all
from hitl_sim.diagnose import diagnose, render_report
from hitl_sim.infra import PrivateBroker, PrivateDatabase
from hitl_sim.live import Tally, publish
from hitl_sim.procs import Supervisor
from hitl_sim.stack import SERVICES, start_stack
from hitl_sim.topics_reader import read_flow

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after traffic starts
    target: str  # a service name, "broker" or "database"
    down_for: float  # seconds before it is started again


def plan_faults(
    services: Sequence[str], *, kills_each: int, window: float, seed: int
) -> list[Fault]:
    """Every service killed `kills_each` times, the broker crashed once and the database stopped
    once, at seeded random moments inside the traffic window, in time order."""
    rng = random.Random(seed)
    faults = [
        Fault(rng.uniform(0.05, 0.95) * window, name, rng.uniform(0.3, 2.0))
        for name in services
        for _ in range(kills_each)
    ]
    faults.append(Fault(rng.uniform(0.3, 0.7) * window, "broker", rng.uniform(1.0, 4.0)))
    faults.append(Fault(rng.uniform(0.2, 0.8) * window, "database", rng.uniform(2.0, 6.0)))
    return sorted(faults, key=lambda f: f.at)


@dataclass
class Record:
    """What happened during the run, for the report."""

    faults: list[dict[str, object]] = field(default_factory=list)
    unplanned_exits: Counter[str] = field(default_factory=Counter)
    exit_statuses: list[dict[str, object]] = field(default_factory=list)


class Chaos:
    """Inflicts the planned faults, each on its own thread at its moment, so outages overlap
    as they would in life; one fault per target at a time."""

    def __init__(self, supervisor: Supervisor, broker: PrivateBroker, db: PrivateDatabase) -> None:
        self.supervisor, self.broker, self.db = supervisor, broker, db
        self.record = Record()
        self._lock = threading.Lock()
        self._target_locks: dict[str, threading.Lock] = {}
        self._down: set[str] = set()  # services deliberately down right now

    def start(
        self, faults: list[Fault], t0: float, stop: threading.Event
    ) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._at, args=(f, t0, stop), daemon=True) for f in faults
        ]
        for thread in threads:
            thread.start()
        return threads

    def _at(self, fault: Fault, t0: float, stop: threading.Event) -> None:
        if stop.wait(max(0.0, t0 + fault.at - time.monotonic())):  # the schedule, not a sync
            return
        with self._lock:
            target_lock = self._target_locks.setdefault(fault.target, threading.Lock())
        with target_lock:
            self._inflict(fault, t0, stop)

    def _inflict(self, fault: Fault, t0: float, stop: threading.Event) -> None:
        began = time.monotonic() - t0
        if fault.target == "broker":
            self.broker.crash()
            stop.wait(fault.down_for)  # the outage itself, not a synchronisation
            try:
                self.broker.start()
            except Exception:  # noqa: BLE001 - a slow recovery on a loaded machine: once more
                self.broker.start()
        elif fault.target == "database":
            self.db.stop()
            stop.wait(fault.down_for)
            self.db.start()
        else:
            with self._lock:
                self._down.add(fault.target)
                self.supervisor.kill(fault.target)
            stop.wait(fault.down_for)
            with self._lock:
                self.supervisor.restart(fault.target)
                self._down.discard(fault.target)
        with self._lock:
            self.record.faults.append(
                {
                    "target": fault.target,
                    "at_s": round(began, 1),
                    "back_at_s": round(time.monotonic() - t0, 1),
                }  # fmt: skip
            )

    def restart_the_fallen(self) -> None:
        """What Kubernetes would do for a service that exited by itself; counted, since a
        service should ride out an outage rather than exit."""
        with self._lock:
            for name in self.supervisor.dead():
                if name not in self._down:
                    self.record.unplanned_exits[name] += 1
                    self.record.exit_statuses.append(
                        {"service": name, "status": self.supervisor.procs[name][0].returncode}
                    )
                    self.supervisor.restart(name)


@dataclass(frozen=True)
class Outcome:
    run_id: str
    drafts: int
    seconds: float
    faults: list[dict[str, object]]
    unplanned_exits: dict[str, int]
    exit_statuses: list[dict[str, object]]
    bot_decisions: int
    bot_errors: int
    completed: bool
    audit: Audit
    stuck_report: dict[str, object] | None = None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["audit"] = self.audit.as_dict()
        return data


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hitl-sim chaos", description=__doc__.split("\n")[0])
    p.add_argument("--scenario", type=Path, default=ROOT / "bench" / "scenarios" / "steady.yaml")
    p.add_argument("--policy", type=Path, default=ROOT / "policy" / "default.yaml")
    p.add_argument("--drafts", type=int, default=6000, help="drafts to publish (default 6000)")
    p.add_argument("--rate", type=float, default=25.0, help="drafts per second (default 25)")
    p.add_argument("--kills", type=int, default=3, help="kill -9s per service (default 3)")
    p.add_argument("--settle", type=float, default=300.0,
                   help="seconds to wait after traffic for everything to be decided")  # fmt: skip
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--budget", type=float,
                   help="seconds for the whole run, start-up included (default: traffic + "
                   "settle + 300); past it the run reports what is owed and fails")  # fmt: skip
    p.add_argument("--state", type=Path,
                   help="directory for the run's broker, database and logs "
                   "(default .local/chaos/<run>)")  # fmt: skip
    p.add_argument("--json", type=Path, help="write the outcome here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console()
    # The bots count their errors (every outage makes some); a line for each is noise here.
    logging.getLogger("hitl_sim.bots").setLevel(logging.ERROR)

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through run()'s clean-up

    signal.signal(signal.SIGTERM, terminate)
    outcome = run(args, console)
    for fault in outcome.faults:
        console.print(f"fault: {fault['target']} down at {fault['at_s']} s, back at "
                      f"{fault['back_at_s']} s")  # fmt: skip
    console.print(
        f"drafts {outcome.drafts}, faults {len(outcome.faults)}, services that exited by "
        f"themselves {sum(outcome.unplanned_exits.values())}, bot decisions "
        f"{outcome.bot_decisions} (errors seen by bots {outcome.bot_errors}), "
        f"{'completed' if outcome.completed else 'NOT completed'} in {outcome.seconds} s"
    )
    console.print(render(outcome.audit))
    if outcome.stuck_report is not None:
        console.print(render_report(outcome.stuck_report), markup=False)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(outcome.as_dict(), indent=2) + "\n")
    return 0 if outcome.audit.ok and outcome.completed else 1


def run(args: argparse.Namespace, console: Console) -> Outcome:
    run_id = f"chaos{uuid.uuid4().hex[:6]}"
    state = (args.state or ROOT / ".local" / "chaos") / run_id
    budget = args.budget or args.drafts / args.rate + args.settle + 300
    deadline = time.monotonic() + budget
    state.mkdir(parents=True, exist_ok=True)
    broker, db = PrivateBroker(state / "kafka"), PrivateDatabase(state / "postgres")
    supervisor = Supervisor(state)
    stop, done_publishing = threading.Event(), threading.Event()
    began = time.monotonic()
    try:
        broker.start()
        db.start()
        stack = start_stack(
            supervisor, run_id=run_id, bootstrap=broker.bootstrap, database_url=db.url,
            scenario_file=args.scenario, policy_file=args.policy,
            # A killed review-api leaves its callers' leases behind: let them lapse quickly.
            extra_env={"HITL_LEASE_SECONDS": "10"},
        )  # fmt: skip

        def publish_all() -> None:
            publish(stack.scenario, stack.publisher, stack.truths, Tally(), stop,
                    rate=args.rate, run_id=run_id, count=args.drafts,
                    flush_timeout=120)  # fmt: skip
            done_publishing.set()

        threads = [
            threading.Thread(target=publish_all, daemon=True),
            threading.Thread(target=run_all, args=(stack.bots, stack.base, stop), daemon=True),
        ]
        for thread in threads:
            thread.start()
        chaos = Chaos(supervisor, broker, db)
        faults = plan_faults(
            list(SERVICES), kills_each=args.kills, window=args.drafts / args.rate,
            seed=args.seed,
        )  # fmt: skip
        threads += chaos.start(faults, time.monotonic(), stop)
        while any(t.is_alive() for t in threads[2:]) and time.monotonic() < deadline:
            chaos.restart_the_fallen()
            threads[-1].join(1.0)  # a bounded wait between checks for services that exited
        completed = settle(stack.settings, args, done_publishing, chaos, console, deadline)
        stuck_report = None
        snapshot = None
        if not completed:
            try:
                snapshot = read_flow(stack.settings, final=False, timeout=30)
                stuck_report = diagnose(stack.settings, snapshot, supervisor, stack.metrics_urls)
            except Exception as exc:  # noqa: BLE001 - the broker itself may be what is stuck
                stuck_report = {"owed": {}, "processes": {}, "error": f"{exc}"[:300]}
        stop.set()
        threads[1].join(30)
        supervisor.stop_all()
        try:
            flow = read_flow(stack.settings, final=True, timeout=120 if completed else 30)
        except TimeoutError:
            if snapshot is None:
                raise
            flow = snapshot  # a stuck run: what could be read is the audit
        return Outcome(
            run_id=run_id,
            drafts=len(stack.truths),
            seconds=round(time.monotonic() - began, 1),
            faults=chaos.record.faults,
            unplanned_exits=dict(chaos.record.unplanned_exits),
            exit_statuses=chaos.record.exit_statuses,
            bot_decisions=sum(b.stats.decided for b in stack.bots),
            bot_errors=sum(b.stats.errors for b in stack.bots),
            completed=completed,
            audit=audit(flow),
            stuck_report=stuck_report,
        )
    finally:
        stop.set()
        supervisor.stop_all()
        for part in (broker, db):
            try:
                part.stop()
            except Exception as exc:  # noqa: BLE001 - clean-up must go on
                console.print(f"chaos: could not stop {type(part).__name__}: {exc}")


def settle(
    settings: ServiceSettings,
    args: argparse.Namespace,
    done_publishing: threading.Event,
    chaos: Chaos,
    console: Console,
    budget_deadline: float,
) -> bool:
    """Wait, with a deadline, until every stage has delivered everything it owes."""
    left = budget_deadline - time.monotonic()
    if not done_publishing.wait(max(0.0, min(args.drafts / args.rate + 180, left))):
        console.print("chaos: the publisher did not finish")
        return False
    deadline = min(time.monotonic() + args.settle, budget_deadline)
    while time.monotonic() < deadline:
        chaos.restart_the_fallen()
        flow = read_flow(settings, final=False)
        result = audit(flow)
        if len(set(flow.drafts)) >= args.drafts and all(s.missing == 0 for s in result.stages):
            return True
        owed = ", ".join(f"{s.name} {s.missing}" for s in result.stages if s.missing)
        console.print(f"chaos: settling; still owed: {owed}")
    return False
