"""What every benchmark shares: writing its result, and waiting for a service it started."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from hitl_sim.procs import free_port

__all__ = ["free_port", "wait_until_healthy", "write_result"]


def write_result(name: str, sections: dict[str, Any], path: str) -> None:
    """Print the result and write it as JSON to `path` (folders created)."""
    result = {"benchmark": name, "machine": {"cpus": os.cpu_count()}} | sections
    text = json.dumps(result, indent=2) + "\n"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    sys.stdout.write(text)


def wait_until_healthy(url: str, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.2)
