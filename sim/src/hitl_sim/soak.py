"""`hitl-sim soak` (`make soak`): sustained load for a fixed time; memory must stay flat and lag
bounded.

Starts the four services on the broker (HITL_KAFKA_BOOTSTRAP or the local one) with reviewer
bots, publishes drafts at a steady rate for `--duration` seconds and then stops by itself. Every
few seconds it samples each service's resident memory (/proc) and consumer lag (its own
`hitl_consumer_lag_records` on /metrics). After a warm-up it judges: a service's memory may grow
by at most `--max-growth-mb` (a straight-line fit over the samples, so one GC spike does not
count) and the lag must stay under `--max-lag` records. Prints the figures, writes JSON, exits 1
when either bound is broken.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from hitl_sim.bots import run_all
from hitl_sim.live import Tally, publish
from hitl_sim.procs import Supervisor
from hitl_sim.stack import ensure_broker, kafka_sh, start_stack

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the load began
    rss_mb: float
    lag: float


@dataclass(frozen=True)
class Verdict:
    service: str
    samples: int
    rss_first_mb: float
    rss_last_mb: float
    growth_mb: float  # the fitted line's rise over the judged span
    max_lag: float
    ok: bool


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; 0 for fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def judge(
    service: str, samples: list[Sample], *, warmup: float, max_growth_mb: float, max_lag: float
) -> Verdict:
    """Memory: the fitted growth over the samples after `warmup` stays under the bound. Lag:
    every sample after the warm-up under `max_lag`."""
    judged = [s for s in samples if s.at >= warmup] or samples[-1:]
    span = judged[-1].at - judged[0].at if judged else 0.0
    growth = slope([(s.at, s.rss_mb) for s in judged]) * span
    worst_lag = max((s.lag for s in judged if s.lag == s.lag), default=0.0)  # NaN: no scrape
    return Verdict(
        service=service,
        samples=len(judged),
        rss_first_mb=round(judged[0].rss_mb, 1) if judged else 0.0,
        rss_last_mb=round(judged[-1].rss_mb, 1) if judged else 0.0,
        growth_mb=round(growth, 1),
        max_lag=worst_lag,
        ok=bool(judged) and growth <= max_growth_mb and worst_lag <= max_lag,
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def lag_of(client: httpx.Client, metrics_url: str) -> float:
    """The service's summed consumer lag, from its own metrics; 0 before it exports any."""
    text = client.get(metrics_url, timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "hitl_consumer_lag_records"
        for sample in family.samples
    )


@dataclass
class Sampler:
    supervisor: Supervisor
    metrics_urls: dict[str, str]
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def run(self, t0: float, stop: threading.Event, every: float) -> None:
        with httpx.Client() as client:
            while not stop.wait(every):  # the sampling period, not a synchronisation
                for name, url in self.metrics_urls.items():
                    proc, _ = self.supervisor.procs[name]
                    try:
                        lag = lag_of(client, url)
                    except httpx.HTTPError:
                        lag = float("nan")
                    sample = Sample(round(time.monotonic() - t0, 1), rss_mb(proc.pid), lag)
                    self.samples.setdefault(name, []).append(sample)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hitl-sim soak", description=__doc__.split("\n")[0])
    p.add_argument("--scenario", type=Path, default=ROOT / "bench" / "scenarios" / "steady.yaml")
    p.add_argument("--policy", type=Path, default=ROOT / "policy" / "default.yaml")
    p.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    p.add_argument("--rate", type=float, default=100.0, help="drafts per second (default 100)")
    p.add_argument("--warmup", type=float, default=0.25, help="share of the run not judged")
    p.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--max-growth-mb", type=float, default=30.0)
    p.add_argument("--max-lag", type=float, default=5000.0)
    p.add_argument("--json", type=Path, help="write the figures here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    console = Console()
    logging.getLogger("hitl_sim.bots").setLevel(logging.ERROR)
    verdicts, sent, samples = run(args, console)
    for v in verdicts:
        console.print(
            f"{v.service:<11} rss {v.rss_first_mb:7.1f} -> {v.rss_last_mb:7.1f} MB, fitted growth "
            f"{v.growth_mb:+6.1f} MB over {v.samples} samples, max lag {v.max_lag:.0f} records: "
            f"{'ok' if v.ok else 'OUT OF BOUNDS'}"
        )
    console.print(f"soak: {sent} drafts in {args.duration:.0f} s at {args.rate:.0f}/s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"duration_s": args.duration, "rate": args.rate, "drafts": sent,
                  "bounds": {"max_growth_mb": args.max_growth_mb, "max_lag": args.max_lag},
                  "services": [asdict(v) for v in verdicts],
                  "samples": {name: [asdict(x) for x in series]
                              for name, series in samples.items()}}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if verdicts and all(v.ok for v in verdicts) else 1


def run(
    args: argparse.Namespace, console: Console
) -> tuple[list[Verdict], int, dict[str, list[Sample]]]:
    run_id = f"soak{uuid.uuid4().hex[:6]}"
    state = ROOT / ".local" / "soak" / run_id
    state.mkdir(parents=True, exist_ok=True)
    bootstrap, started_broker = ensure_broker(console)
    supervisor, stop = Supervisor(state), threading.Event()
    tally = Tally()
    try:
        stack = start_stack(
            supervisor, run_id=run_id, bootstrap=bootstrap,
            database_url=f"sqlite+aiosqlite:///{state / 'review.db'}",
            scenario_file=args.scenario, policy_file=args.policy,
        )  # fmt: skip
        sampler = Sampler(supervisor, stack.metrics_urls)
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=publish,
                             args=(stack.scenario, stack.publisher, stack.truths, tally, stop),
                             kwargs={"rate": args.rate, "run_id": run_id}, daemon=True),
            threading.Thread(target=run_all, args=(stack.bots, stack.base, stop), daemon=True),
            threading.Thread(target=sampler.run, args=(t0, stop, args.every), daemon=True),
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        stop.wait(args.duration)  # the soak's length: it stops by itself
        if dead := supervisor.dead():
            console.print(f"soak: services exited during the run: {dead}; see {state}")
            return [], tally.sent, {}
    finally:
        stop.set()
        supervisor.stop_all()
        if started_broker:
            kafka_sh("stop")
    warmup = args.duration * args.warmup
    verdicts = [
        judge(
            name, samples, warmup=warmup, max_growth_mb=args.max_growth_mb, max_lag=args.max_lag
        )  # fmt: skip
        for name, samples in sorted(sampler.samples.items())
    ]
    return verdicts, tally.sent, sampler.samples
