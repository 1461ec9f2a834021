"""Entry point: `python -m feedback` runs the service; `python -m feedback export ...` exports."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

from hitl_runtime.health import STAGES, start_watchdog
from hitl_runtime.logs import configure_logging
from hitl_runtime.metrics import serve_metrics
from hitl_runtime.policy import PolicyError
from hitl_runtime.settings import SettingsError


def _export(argv: list[str]) -> int:
    from feedback.config import load
    from feedback.export import export, read_examples

    parser = argparse.ArgumentParser(prog="python -m feedback export")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--kind", choices=["labels", "preferences"], default="labels")
    parser.add_argument("--since", type=datetime.fromisoformat, help="ISO time, inclusive")
    parser.add_argument("--until", type=datetime.fromisoformat, help="ISO time, exclusive")
    parser.add_argument("--content-type")
    args = parser.parse_args(argv)
    for bound in (args.since, args.until):
        if bound is not None and bound.tzinfo is None:
            parser.error("--since and --until need a time zone, e.g. 2026-11-01T00:00:00+00:00")
    settings = load()
    examples = read_examples(
        settings, since=args.since, until=args.until, content_type=args.content_type
    )
    count = export(examples, args.output, kind=args.kind, fmt=args.format)
    sys.stderr.write(f"wrote {count} {args.kind} rows to {args.output}\n")
    return 0


def main(argv: list[str]) -> int:
    try:
        if argv and argv[0] == "export":
            return _export(argv[1:])
        if argv and argv[0] == "retrain":
            from feedback.retrain_cli import main as retrain_main

            return retrain_main(argv[1:])
        from feedback.app import bootstrap
        from feedback.config import load

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        settings = load()
        configure_logging(settings.service_name, settings.log_level, settings.log_format)
        service = bootstrap(settings)
    except (SettingsError, PolicyError) as exc:
        sys.stderr.write(f"feedback cannot start: {exc}\n")
        return 2
    serve_metrics(settings.metrics_port, health=STAGES, stall_seconds=settings.stage_stall_seconds)
    start_watchdog(settings)
    service.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
