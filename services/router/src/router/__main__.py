"""Entry point: `python -m router` runs the exactly-once stages and one faust worker.

SIGTERM stops the faust worker; the stages then finish and commit their batch in hand. A stage
that dies or stops making progress ends the whole process (the stage watchdog), so a live
router is never one that routes nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from hitl_runtime.health import STAGES, exit_process, start_watchdog
from hitl_runtime.logs import configure_logging
from hitl_runtime.metrics import serve_metrics
from hitl_runtime.policy import PolicyError
from hitl_runtime.settings import SettingsError

log = logging.getLogger("router")
SHUTDOWN_GRACE_SECONDS = 20.0


def main() -> int:
    import faust

    from router.app import bootstrap
    from router.config import load

    try:
        settings = load()
        configure_logging(settings.service_name, settings.log_level, settings.log_format)
        router = bootstrap(settings)
    except (SettingsError, PolicyError) as exc:
        sys.stderr.write(f"router cannot start: {exc}\n")
        return 2
    serve_metrics(settings.metrics_port, health=STAGES, stall_seconds=settings.stage_stall_seconds)
    start_watchdog(settings)
    stop, failed = threading.Event(), threading.Event()
    # Daemon threads: a stage stuck in a call must not keep a stopping process alive.
    stages = [
        threading.Thread(
            target=guarded, args=(router.route_stage.run, stop, failed), name="route", daemon=True
        ),
        threading.Thread(
            target=guarded,
            args=(router.regroup_stage.run, stop, failed),
            name="regroup",
            daemon=True,
        ),
    ]
    for stage in stages:
        stage.start()
    worker = faust.Worker(router.app, loglevel=settings.log_level, quiet=True)
    worker_code: object = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        worker_code = exc.code
    finally:
        stop.set()
        for stage in stages:
            stage.join(timeout=60)
    # mode's Worker notes when a SIGINT/SIGTERM asked it to stop; a worker that stopped
    # without one stopped by itself (a crash it handled), and the platform must restart us.
    signalled = bool(getattr(worker, "_signal_stop_time", None))
    status = exit_status(stage_failed=failed.is_set(), worker_code=worker_code, signalled=signalled)
    if status and not failed.is_set():
        log.error(
            "the faust worker stopped without being asked to; exiting so that the router is "
            "restarted",
            extra={"fields": {"worker_exit": str(worker_code), "signalled": signalled}},
        )
    return status


def exit_status(*, stage_failed: bool, worker_code: object, signalled: bool) -> int:
    """0 only for a router that was asked to stop and stopped cleanly: a stage that died, a
    worker that failed, or one that stopped by itself must be restarted by the platform."""
    if stage_failed:
        return 1
    if worker_code not in (None, 0):
        return worker_code if isinstance(worker_code, int) else 1
    return 0 if signalled else 1


def guarded(
    run: Callable[[threading.Event], None],
    stop: threading.Event,
    failed: threading.Event,
    *,
    grace: float = SHUTDOWN_GRACE_SECONDS,
    hard_exit: Callable[[list[str], str], None] = exit_process,
) -> None:
    """A stage that dies must take the process with it: a router whose faust worker lives on
    with a dead routing thread looks healthy and routes nothing. SIGTERM stops the worker the
    usual way; the exit status says it failed, so the platform restarts it. If the stop has
    not come `grace` seconds later, `hard_exit` ends the process."""
    try:
        run(stop)
    except BaseException:
        log.critical("a router stage died; stopping the router", exc_info=True)
        failed.set()
        os.kill(os.getpid(), signal.SIGTERM)
        # The faust worker's shutdown can itself hang on an unreachable broker: a bounded wait.
        if not stop.wait(grace):
            hard_exit([threading.current_thread().name], "the router did not stop in time")


if __name__ == "__main__":
    raise SystemExit(main())
