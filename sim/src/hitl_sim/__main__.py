"""`hitl-sim demo [options]`: the live demo (hitl_sim.demo). Benchmarks are `hitl-bench`."""

from __future__ import annotations

import sys

from hitl_runtime.policy import PolicyError
from hitl_sim.scenario import ScenarioError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "demo":
        sys.stderr.write("usage: hitl-sim demo [--scenario FILE] [--rate N] [--duration S] ...\n")
        return 2
    from hitl_sim import demo

    try:
        return demo.main(args[1:])
    except (ScenarioError, PolicyError) as exc:
        sys.stderr.write(f"hitl-sim: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
