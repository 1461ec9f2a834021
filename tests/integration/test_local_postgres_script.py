"""deploy/local/postgres.sh from a clone in a private folder (issue 23): run as root, the server
runs as the postgres user, which cannot reach a mode-700 folder, so the script keeps its state
where that user can. Run as another user, the server is that user's and the folder is its own.
Either way the server must start, answer, and stop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Where the script keeps a private clone's state when run as root (deploy/local/postgres.sh).
SHARED_STATE = "/var/tmp/hitl-postgres/"  # noqa: S108 - the script's own fixed place


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(script: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [str(script), command], capture_output=True, text=True, timeout=180, check=False, env=env
    )


@pytest.fixture
def private_clone(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the script in <tmp>/private/clone/deploy/local, the private folder mode 700."""
    private = tmp_path / "private"
    local = private / "clone" / "deploy" / "local"
    local.mkdir(parents=True)
    script = local / "postgres.sh"
    shutil.copy2(ROOT / "deploy" / "local" / "postgres.sh", script)
    private.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k != "HITL_POSTGRES_DATA"}
    env["HITL_POSTGRES_PORT"] = str(_free_port())
    yield script, env
    _run(script, "remove", env)


def test_the_local_server_starts_from_a_clone_in_a_private_folder(
    private_clone: tuple[Path, dict[str, str]],
) -> None:
    script, env = private_clone
    started = _run(script, "start", env)
    assert started.returncode == 0, started.stderr
    assert "ready: postgresql+asyncpg://hitl@127.0.0.1:" in started.stderr
    status = _run(script, "status", env)
    assert status.returncode == 0 and f"running on 127.0.0.1:{env['HITL_POSTGRES_PORT']}" in (
        status.stdout
    )
    where = _run(script, "where", env).stdout.strip()
    if os.getuid() == 0:
        assert where.startswith(SHARED_STATE), where
    else:
        assert where == str(script.parents[2] / ".local" / "postgres")
    stopped = _run(script, "stop", env)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr
    assert _run(script, "status", env).returncode == 3
    removed = _run(script, "remove", env)
    assert removed.returncode == 0 and not Path(where).exists()


def test_a_data_folder_asked_for_in_a_private_place_is_served_too(tmp_path: Path) -> None:
    """A caller's own HITL_POSTGRES_DATA under a private folder (pytest's temporary folders are
    mode 700): the server still starts, and `remove` leaves nothing behind."""
    private = tmp_path / "mine"
    private.mkdir(mode=0o700)
    env = dict(
        os.environ, HITL_POSTGRES_DATA=str(private / "pg"), HITL_POSTGRES_PORT=str(_free_port())
    )
    script = ROOT / "deploy" / "local" / "postgres.sh"
    try:
        started = _run(script, "start", env)
        assert started.returncode == 0, started.stderr
        assert _run(script, "status", env).returncode == 0
    finally:
        where = _run(script, "where", env).stdout.strip()
        assert _run(script, "remove", env).returncode == 0
    assert not Path(where).exists()
