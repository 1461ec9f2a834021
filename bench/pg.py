"""A fresh PostgreSQL database per test or benchmark: local server or HITL_TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]


SCRIPT = str(ROOT / "deploy" / "local" / "postgres.sh")
_started_here: list[str] = []  # the script, once this process has started the local server


def postgres_base_url() -> str:
    """HITL_TEST_POSTGRES_URL, else the local server (started here when it is not running)."""
    given = os.environ.get("HITL_TEST_POSTGRES_URL")
    if given:
        return given
    script = SCRIPT
    started = subprocess.run([script, "start"], capture_output=True, text=True, check=False)  # noqa: S603
    if started.returncode != 0:
        raise RuntimeError(f"could not start the local PostgreSQL:\n{started.stderr}")
    if "already running" not in started.stderr and not _started_here:
        _started_here.append(script)
    found = subprocess.run([script, "url"], capture_output=True, text=True, check=True)  # noqa: S603
    return found.stdout.strip()


def fresh_postgres_database(base_url: str) -> str:
    """Create an empty database next to the one in `base_url`; return its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    plain = base_url.replace("postgresql+asyncpg://", "postgresql://")

    async def create() -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return base_url.rsplit("/", 1)[0] + "/" + name


def stop_if_started_here() -> None:
    """Stop the local server if this process started it (a test run stops what it started; a
    server that was already running belongs to someone else)."""
    for script in _started_here:
        subprocess.run([script, "stop"], capture_output=True, text=True, check=False)  # noqa: S603
    _started_here.clear()
