"""Child processes of the demo and the benchmarks: start a service, stop them all, find a port."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

# Ports our services listen on come from below Linux's ephemeral range (32768-60999 by
# default), which every outgoing connection draws its local port from: a port picked there is
# free now, but while its service is down (killed by the crash suite) a client connection, or
# another run's bind-to-0, can take it, and the restarted service then fails to bind it, again
# and again.
LISTEN_PORTS = range(20_000, 32_768)
_pick = random.SystemRandom()


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it is free, else a free port of LISTEN_PORTS chosen at random."""
    if preferred and _bindable(preferred):
        return preferred
    for _ in range(200):
        port = _pick.choice(LISTEN_PORTS)
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


class Supervisor:
    """The processes this demo started, stopped in reverse order on the way out."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}
        self._specs: dict[str, tuple[str, dict[str, str]]] = {}

    def start(self, name: str, module: str, env: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs[name] = (proc, log)
        self._specs[name] = (module, env)

    def kill(self, name: str) -> int:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs. Returns the pid."""
        proc, log = self.procs[name]
        proc.kill()
        proc.wait()
        log.close()
        return proc.pid

    def restart(self, name: str) -> None:
        module, env = self._specs[name]
        self.start(name, module, env)

    def dead(self) -> list[str]:
        return [name for name, (proc, _) in self.procs.items() if proc.poll() is not None]

    def stop_all(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc, log in reversed(self.procs.values()):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
