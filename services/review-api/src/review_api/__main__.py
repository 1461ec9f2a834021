"""Entry point.

python -m review_api                      # serve the API (HITL_* settings)
python -m review_api create-reviewer --id rv-1 --name "Dana" --role admin --tier senior
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from hitl_runtime.health import STAGES, start_watchdog
from hitl_runtime.logs import configure_logging
from hitl_runtime.metrics import serve_metrics
from hitl_runtime.policy import PolicyError, load_policy
from hitl_runtime.settings import SettingsError


async def _create_reviewer(args: argparse.Namespace) -> str:
    from review_api.config import load_store
    from review_api.db import ApiKey, Reviewer
    from review_api.store import (
        append_audit,
        create_schema,
        hash_key,
        make_engine,
        new_api_key,
        sessions,
    )

    settings = load_store()  # the database and policy only: no signing key needed here
    policy = load_policy(settings.policy_file)
    if args.tier not in policy.tiers:
        raise SystemExit(f"--tier must be one of {policy.tiers}")
    engine = make_engine(settings.database_url)
    await create_schema(engine)
    key = new_api_key()
    now = datetime.now(UTC)
    async with sessions(engine)() as session, session.begin():
        if await session.get(Reviewer, args.id) is None:
            types = args.content_types.split(",") if args.content_types else None
            session.add(
                Reviewer(
                    id=args.id,
                    display_name=args.name,
                    role=args.role,
                    tier=args.tier,
                    content_types=types,
                    active=True,
                )
            )
            await session.flush()  # the key row refers to the reviewer row
        session.add(ApiKey(key_hash=hash_key(key), reviewer_id=args.id, created_at=now))
        await append_audit(
            session,
            actor="cli",
            action="issue_key",
            now=now,
            detail={"reviewer": args.id, "role": args.role},
        )
    await engine.dispose()
    return key


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m review_api")
    sub = parser.add_subparsers(dest="command")
    create = sub.add_parser(
        "create-reviewer", help="create a reviewer (if new) and print a new API key"
    )
    create.add_argument("--id", required=True, help="pseudonymous id, e.g. rv-0042")
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=["reviewer", "lead", "admin"], required=True)
    create.add_argument("--tier", required=True)
    create.add_argument("--content-types", help="comma-separated; default all")
    args = parser.parse_args(argv)
    try:
        if args.command == "create-reviewer":
            sys.stdout.write(asyncio.run(_create_reviewer(args)) + "\n")
            return 0
        import uvicorn

        from review_api.app import create_app
        from review_api.config import load

        settings = load()
        configure_logging(settings.service_name, settings.log_level, settings.log_format)
        app = create_app(settings)
    except (SettingsError, PolicyError) as exc:
        sys.stderr.write(f"review-api cannot start: {exc}\n")
        return 2
    # A separate /metrics port when set (e.g. scraped on a port not exposed with the API);
    # /metrics on the API port serves the same registry either way.
    serve_metrics(settings.metrics_port, health=STAGES, stall_seconds=settings.stage_stall_seconds)
    if settings.ingest:
        start_watchdog(settings)  # over the ingest stage; /healthz follows it
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
