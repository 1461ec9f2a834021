"""Entry point: `python -m router` runs the exactly-once stages and one faust worker.

SIGTERM stops the faust worker; the stages then finish and commit their batch in hand.
"""

from __future__ import annotations

import sys
import threading

from hitl_runtime.logs import configure_logging
from hitl_runtime.metrics import serve_metrics
from hitl_runtime.policy import PolicyError
from hitl_runtime.settings import SettingsError


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
    serve_metrics(settings.metrics_port)
    stop = threading.Event()
    stages = [
        threading.Thread(target=router.route_stage.run, args=(stop,), name="route"),
        threading.Thread(target=router.regroup_stage.run, args=(stop,), name="regroup"),
    ]
    for stage in stages:
        stage.start()
    worker = faust.Worker(router.app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    finally:
        stop.set()
        for stage in stages:
            stage.join(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
