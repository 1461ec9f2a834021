"""The automatic retraining trigger: every N new examples or T seconds, whichever comes first,
and only when there is something new since the last run.

The consume loop only counts committed examples (`RetrainWorker.add`, a lock and an increment);
training runs on the worker's own thread, one run at a time (reading and fitting in a child
process, `retraining.run_once(isolated=True)`), so the exactly-once loop never waits for a fit
and the service's memory does not grow with each run. Examples committed during a run count
towards the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from feedback.metrics import (
    EXAMPLES_SINCE_RETRAIN,
    RETRAIN_RUNS,
    RETRAIN_SECONDS,
    RunOutcome,
    observe_evaluation,
    observe_serving,
)
from feedback.retraining import RunResult

log = logging.getLogger(__name__)


def retrain_due(
    *, new_examples: int, seconds_since_last: float, every_examples: int, every_seconds: float
) -> bool:
    """Is it time to retrain? Never without new examples; else at N of them or after T."""
    if new_examples <= 0:
        return False
    return new_examples >= every_examples or seconds_since_last >= every_seconds


class RetrainWorker:
    def __init__(
        self,
        run: Callable[[], RunResult],
        *,
        every_examples: int,
        every_seconds: float,
        prime: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`run` does one retraining run; `prime`, called once on the worker thread before the
        first wait, sets the figures a restart would otherwise lose (time of the last model)."""
        self._run = run
        self._every_examples = every_examples
        self._every_seconds = every_seconds
        self._prime = prime
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._new = 0
        self._last = clock()
        self._thread = threading.Thread(target=self._loop, name="retrain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """A run in progress is not waited for beyond `timeout`: the thread is a daemon, and an
        unfinished run publishes nothing, or a complete model."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def add(self, examples: int) -> None:
        """Count examples that are committed (visible to read_committed readers)."""
        if examples <= 0:
            return
        with self._lock:
            self._new += examples
            pending = self._new
        EXAMPLES_SINCE_RETRAIN.set(pending)
        self._wake.set()

    def _loop(self) -> None:
        if self._prime is not None:
            try:
                self._prime()
            except Exception:
                log.exception("could not read the serving model at start")
        while not self._stop.is_set():
            self._wake.wait(self._seconds_to_deadline())
            self._wake.clear()
            if self._stop.is_set():
                return
            taken = self._due_examples()
            if taken:
                self._run_once(taken)

    def _seconds_to_deadline(self) -> float | None:
        with self._lock:
            left = self._every_seconds - (self._clock() - self._last)
        # Past T with nothing new: sleep until an example arrives (add() wakes us), not spin.
        return left if left > 0 else None

    def _due_examples(self) -> int:
        """The count this run consumes, 0 when no run is due."""
        with self._lock:
            new, since = self._new, self._clock() - self._last
        due = retrain_due(
            new_examples=new,
            seconds_since_last=since,
            every_examples=self._every_examples,
            every_seconds=self._every_seconds,
        )
        return new if due else 0

    def _run_once(self, taken: int) -> None:
        started = time.perf_counter()
        outcome: RunOutcome = "failed"
        try:
            result = self._run()
            outcome = observe_run(result)
        except Exception:
            log.exception("retraining failed; the serving model stays")
        finally:
            RETRAIN_RUNS.labels(outcome=outcome).inc()
            RETRAIN_SECONDS.observe(time.perf_counter() - started)
            # Every run, failed ones too, restarts the clock: a broken input waits for N more
            # examples or T, instead of failing in a tight loop.
            with self._lock:
                self._new -= taken
                self._last = self._clock()
                pending = self._new
            EXAMPLES_SINCE_RETRAIN.set(pending)


def observe_run(result: RunResult) -> RunOutcome:
    """Log the run, export its figures, and say how it counts."""
    retraining = result.retraining
    fields: dict[str, object] = {"outcome": result.outcome, "examples": result.examples}
    if retraining is not None:
        observe_evaluation("candidate", retraining.candidate_eval)
        observe_evaluation("serving", retraining.serving_eval)
        fields |= {
            "serving": result.serving.version,
            "candidate": retraining.candidate.version,
            "refusals": list(retraining.refusals),
        }
    if result.outcome == "published" and retraining is not None:
        observe_serving(retraining.candidate)
    else:
        observe_serving(result.serving_version)
    log.info("retraining run", extra={"fields": fields})
    # A dry run ("better", unpublished) does not happen here; counted as not published.
    return "not_better" if result.outcome == "better" else result.outcome
