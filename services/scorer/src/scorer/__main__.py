"""Entry point: `python -m scorer` runs the service; `python -m scorer score ...` scores a file."""

from __future__ import annotations

import signal
import sys
import threading

from hitl_runtime.health import STAGES, start_watchdog
from hitl_runtime.heap import settle
from hitl_runtime.logs import configure_logging
from hitl_runtime.metrics import serve_metrics
from hitl_runtime.policy import PolicyError
from hitl_runtime.settings import SettingsError


def run_service() -> int:
    from scorer.app import bootstrap
    from scorer.config import load

    # Handlers first: a SIGTERM during start-up must still mean a clean exit, not a kill.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        settings = load()
        configure_logging(settings.service_name, settings.log_level, settings.log_format)
        service = bootstrap(settings)
    except (SettingsError, PolicyError) as exc:
        sys.stderr.write(f"scorer cannot start: {exc}\n")
        return 2
    serve_metrics(settings.metrics_port, health=STAGES, stall_seconds=settings.stage_stall_seconds)
    start_watchdog(settings)
    settle()  # the model and metadata just loaded: out of every later collection's walk
    service.run(stop)
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "score":
        from scorer.cli import main as score_main

        try:
            return score_main(argv[1:])
        except (SettingsError, PolicyError) as exc:
            sys.stderr.write(f"{exc}\n")
            return 2
    if argv and argv[0] not in ("run",):
        sys.stderr.write(
            "usage: python -m scorer [run] | python -m scorer score --input F --output F\n"
        )
        return 2
    return run_service()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
