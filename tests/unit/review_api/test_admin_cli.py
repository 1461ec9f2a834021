"""`python -m review_api create-reviewer` reads only the database and policy settings: it
publishes nothing, so it runs without the signing key (and Kafka settings) the service needs,
while the service itself still refuses to start without its key."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from review_api.__main__ import main
from review_api.db import ApiKey, Reviewer
from review_api.store import hash_key, make_engine, sessions
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Only the CLI's settings in the environment: no signing key, no public keys."""
    for name in list(os.environ):
        if name.startswith("HITL_"):
            monkeypatch.delenv(name)
    url = f"sqlite+aiosqlite:///{tmp_path}/review.db"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    monkeypatch.setenv("HITL_POLICY_FILE", str(POLICY_FILE))
    return url


async def _stored(url: str, reviewer_id: str, key: str) -> tuple[Reviewer | None, ApiKey | None]:
    engine = make_engine(url)
    try:
        async with sessions(engine)() as session:
            return await session.get(Reviewer, reviewer_id), await session.get(
                ApiKey, hash_key(key)
            )
    finally:
        await engine.dispose()


def test_create_reviewer_needs_no_signing_key(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create-reviewer", "--id", "rv-1", "--name", "Dana", "--role", "admin"]
    assert main([*argv, "--tier", "senior"]) == 0
    key = capsys.readouterr().out.strip()
    reviewer, api_key = asyncio.run(_stored(database, "rv-1", key))
    assert reviewer is not None and reviewer.role == "admin"
    assert api_key is not None and api_key.reviewer_id == "rv-1"


def test_create_reviewer_still_checks_its_own_settings(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HITL_DATABASE_URL", "mysql://db/hitl")
    argv = ["create-reviewer", "--id", "rv-1", "--name", "Dana", "--role", "admin"]
    assert main([*argv, "--tier", "senior"]) == 2
    assert "HITL_DATABASE_URL" in capsys.readouterr().err


def test_the_service_still_refuses_to_start_without_its_key(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 2
    assert "HITL_SIGNING_KEY is required" in capsys.readouterr().err
