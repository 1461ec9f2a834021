"""Stage liveness: every stage reports its progress, a watchdog ends a process whose stage has
stopped, and the metrics port answers the probes (`/livez`, `/readyz`).

A stage makes progress when it commits a batch, or when it polls with nothing waiting while it
holds its place in the consumer group. A stage that makes none for `stall_seconds` while the
broker answers is stuck (a call that never returns, a consumer that never rejoins, a thread
that died): the watchdog logs it, counts it and exits the process with status 70, so that its
supervisor restarts it. The exactly-once stages are built to survive exactly that (it is a
kill -9 to them). While the broker does not answer, no stage is blamed: there is nothing to do
until it is back, and every stage gets at least half the limit after its return.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

from hitl_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

STALL_EXIT_STATUS = 70  # EX_SOFTWARE: the supervisor restarts the process

STAGE_STALLS = Counter(
    "hitl_stage_stalls_total",
    "Stages found stuck by the watchdog (the process exits right after), per service and stage.",
    ["service", "stage"],
)
STAGE_PROGRESS_AGE = Gauge(
    "hitl_stage_progress_age_seconds",
    "Seconds since the stage last committed a batch or polled with nothing waiting.",
    ["service", "stage"],
)


@dataclass
class StageProgress:
    """What one stage last achieved, written by the stage and read by the watchdog."""

    service: str
    stage: str
    clock: Callable[[], float] = time.monotonic
    ready: bool = False
    _last: float = field(default=0.0, init=False)
    # What the last empty poll found, for the watchdog's last words: was the consumer in its
    # group, and how many records did it know to wait (None: the broker did not say)?
    last_idle: dict[str, object] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._last = self.clock()  # the start counts as progress: a stage gets time to join
        STAGE_PROGRESS_AGE.labels(self.service, self.stage).set_function(self.age)

    def beat(self) -> None:
        self._last = self.clock()
        self.ready = True

    def idle(self, *, in_group: bool, waiting: int | None) -> None:
        """A poll that returned nothing: progress while the consumer holds its assignment and
        nothing is known to wait (a stage cut off from its group, or behind, is not idle)."""
        self.last_idle = {"in_group": in_group, "waiting": waiting}
        if in_group and waiting == 0:
            self.beat()

    def age(self) -> float:
        return max(0.0, self.clock() - self._last)


class GroupMembership:
    """Rebalance callbacks that tell whether a consumer holds its assignment now (also an
    empty one: a spare replica is healthy), for `Consumer.subscribe(**membership.callbacks)`."""

    def __init__(self, on_release: Callable[[list[int]], object] | None = None) -> None:
        self.in_group = False
        # Told the partitions (numbers) this consumer gave up: state kept per partition is stale.
        self.on_release = on_release

    def _assigned(self, _consumer: object, _partitions: object) -> None:
        self.in_group = True

    def _released(self, _consumer: object, partitions: object) -> None:
        self.in_group = False
        if self.on_release is not None and isinstance(partitions, list):
            self.on_release([tp.partition for tp in partitions])

    @property
    def callbacks(self) -> dict[str, Callable[[object, object], None]]:
        return {"on_assign": self._assigned, "on_revoke": self._released,
                "on_lost": self._released}  # fmt: skip


class Health:
    """The stages of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._stages: dict[tuple[str, str], StageProgress] = {}
        self._lock = threading.Lock()
        self.stalled: list[str] = []  # set by the watchdog just before it ends the process

    def stage(self, service: str, stage: str) -> StageProgress:
        with self._lock:
            key = (service, stage)
            if key not in self._stages:
                self._stages[key] = StageProgress(service, stage, clock=self.clock)
            return self._stages[key]

    def stages(self) -> list[StageProgress]:
        with self._lock:
            return list(self._stages.values())

    def live(self) -> bool:
        return not self.stalled

    def ready(self, stall_seconds: float) -> bool:
        stages = self.stages()
        return bool(stages) and all(s.ready and s.age() <= stall_seconds for s in stages)


STAGES = Health()  # the process's stages, as prometheus_client's REGISTRY is its metrics


def stalled_stages(
    ages: dict[str, float], *, broker_answering_for: float | None, stall_seconds: float
) -> list[str]:
    """The stages to declare stuck: no progress for `stall_seconds`, while the broker has been
    answering for at least half of that (None: it does not answer now)."""
    if broker_answering_for is None or broker_answering_for < stall_seconds / 2:
        return []
    return sorted(name for name, age in ages.items() if age > stall_seconds)


class Watchdog(threading.Thread):
    """Checks every stage's progress; asks the broker only when a stage looks slow."""

    def __init__(
        self,
        health: Health,
        *,
        stall_seconds: float,
        broker_answers: Callable[[], bool],
        on_stall: Callable[[list[str]], None] | None = None,
        interval: float | None = None,
    ) -> None:
        super().__init__(name="watchdog", daemon=True)
        self.health = health
        self.stall_seconds = stall_seconds
        self.broker_answers = broker_answers
        self.on_stall = on_stall or exit_process
        self.interval = interval if interval is not None else max(0.5, stall_seconds / 10)
        self._stop_event = threading.Event()
        self._answering_since: float | None = None

    def stop(self) -> None:
        self._stop_event.set()

    def check(self) -> list[str]:
        """One look; returns the stuck stages (and has called on_stall with them)."""
        stages = self.health.stages()
        ages = {f"{s.service}/{s.stage}": s.age() for s in stages}
        if not any(age > self.stall_seconds / 2 for age in ages.values()):
            return []
        now = self.health.clock()
        if self.broker_answers():
            self._answering_since = self._answering_since or now
        else:
            self._answering_since = None
        answering_for = None if self._answering_since is None else now - self._answering_since
        stuck = stalled_stages(
            ages, broker_answering_for=answering_for, stall_seconds=self.stall_seconds
        )
        if stuck:
            found: dict[str, object] = {}
            for s in stages:
                if f"{s.service}/{s.stage}" in stuck:
                    STAGE_STALLS.labels(s.service, s.stage).inc()
                    found[f"{s.service}/{s.stage}"] = {"age_s": round(s.age(), 1),
                                                       "last_idle_poll": s.last_idle}  # fmt: skip
            log.error("stuck stages", extra={"fields": found})
            self.health.stalled = stuck
            self.on_stall(stuck)
        return stuck

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watchdog must outlive a failed probe
                log.exception("watchdog check failed")


def exit_process(
    stuck: list[str],
    reason: str = "stage made no progress while the broker answers; exiting for a restart",
) -> None:
    """End the process at once: a stuck thread cannot be joined, and a clean shutdown would
    wait for it. Nothing is lost: an open transaction is aborted when the replica returns."""
    log.critical(reason, extra={"fields": {"stages": stuck, "exit_status": STALL_EXIT_STATUS}})
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(STALL_EXIT_STATUS)


def start_watchdog(service_settings: ServiceSettings, health: Health = STAGES) -> Watchdog:
    """The composition roots' one call: a watchdog over this process's stages."""
    from hitl_runtime.kafka import broker_probe  # the Kafka clients only when asked for

    watchdog = Watchdog(
        health,
        stall_seconds=service_settings.stage_stall_seconds,
        broker_answers=broker_probe(service_settings),
    )
    watchdog.start()
    return watchdog
