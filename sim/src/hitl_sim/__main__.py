"""`hitl-sim demo|chaos|soak [options]`: the live demo (hitl_sim.demo), the crash suite
(hitl_sim.chaos) and the soak (hitl_sim.soak). Benchmarks are `hitl-bench`."""

from __future__ import annotations

import sys

from hitl_runtime.policy import PolicyError
from hitl_sim.scenario import ScenarioError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("demo", "chaos", "soak"):
        sys.stderr.write(
            "usage: hitl-sim demo [--scenario FILE] [--rate N] [--duration S] ...\n"
            "       hitl-sim chaos [--drafts N] [--rate N] [--kills K] [--json FILE] ...\n"
            "       hitl-sim soak [--duration S] [--rate N] [--max-growth-mb M] [--json FILE]\n"
        )
        return 2
    from hitl_sim import chaos, demo, soak

    commands = {"demo": demo.main, "chaos": chaos.main, "soak": soak.main}

    try:
        return commands[args[0]](args[1:])
    except (ScenarioError, PolicyError) as exc:
        sys.stderr.write(f"hitl-sim: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
