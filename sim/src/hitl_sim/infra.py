"""A private Kafka broker and PostgreSQL server for one run, which the run may crash and restart.

The chaos suite kills its broker and stops its database mid-run, so it never uses the shared
ones (other tests, the demo): each run gets its own state directory and ports, through the same
scripts a developer uses (`deploy/local/kafka.sh`, `deploy/local/postgres.sh`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from hitl_sim.procs import free_port

ROOT = Path(__file__).resolve().parents[3]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
POSTGRES_SH = ROOT / "deploy" / "local" / "postgres.sh"
# Where `kafka.sh` resolves the broker's jars (from Maven Central through its pom.xml); the
# stuck-run report runs Kafka's own admin tools from them.
KAFKA_JARS = ROOT / ".local" / "kafka" / "jars"


def free_port_pair() -> int:
    """A port p with p+1 free too: the broker listens on p, its controller on p+1."""
    for _ in range(50):
        port = free_port()
        if free_port(port + 1) == port + 1:
            return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def _script(path: Path, command: str, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own script
        ["bash", str(path), command],  # noqa: S607
        env=os.environ | env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


class PrivateBroker:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port_pair()
        # A restart on a loaded machine (a chaos run beside the suite) can take minutes.
        self.env = {"HITL_KAFKA_PORT": str(self.port), "HITL_KAFKA_STATE": str(state),
                    "HITL_KAFKA_START_TIMEOUT": "240"}  # fmt: skip

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        _script(KAFKA_SH, "start", self.env)

    def stop(self) -> None:
        _script(KAFKA_SH, "stop", self.env)

    def crash(self) -> None:
        """SIGKILL the broker's JVM: no controlled shutdown, logs recovered at the next start."""
        pid = int((self.state / "broker.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)  # waiting for the kernel to reap a killed process, bounded
        raise RuntimeError(f"broker pid {pid} survived SIGKILL for 30 s")


class PrivateDatabase:
    def __init__(self, state: Path) -> None:
        self.env = {"HITL_POSTGRES_DATA": str(state), "HITL_POSTGRES_PORT": str(free_port())}

    @property
    def url(self) -> str:
        return _script(POSTGRES_SH, "url", self.env)

    def start(self) -> None:
        _script(POSTGRES_SH, "start", self.env)

    def stop(self) -> None:
        _script(POSTGRES_SH, "stop", self.env)

    def remove(self) -> None:
        """Stop it and delete its data, wherever the script keeps it (postgres.sh `where`)."""
        _script(POSTGRES_SH, "remove", self.env)
