"""Entry point: `python -m router` runs one faust worker (SIGTERM stops it cleanly)."""

from __future__ import annotations

import sys

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
        router = bootstrap(settings)
    except (SettingsError, PolicyError) as exc:
        sys.stderr.write(f"router cannot start: {exc}\n")
        return 2
    serve_metrics(settings.metrics_port)
    worker = faust.Worker(router.app, loglevel=settings.log_level, quiet=True)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
