"""How often does the router's drift alarm fire on a stable stream, and how soon after a rise?

    uv run python -m bench.drift_bench [--streams 200] [--json bench/results/drift.json]

The stream the alarm sees in the explore phase: drafts near the threshold (30 % of them) err
`NEAR_RATIO` times as often as those far above it, the mean is the target, and audits sample the
near ones at 12 % against 1 % far away, so most audits come from where errors are. Two alarms
read the same audits: `router.drift` (every audit against its own bucket's baseline, built from
counts like the certificate's) and a CUSUM against one flat target. Per stream, 3,000 stable
audits, then every rate tripled: the share of streams with a false alarm, and the audits to the
first alarm after the rise.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import numpy as np

from bench.common import write_result
from router.drift import DriftSettings, alarm, baseline, cusum_step

TARGET, NEAR_SHARE, NEAR_RATIO = 0.02, 0.3, 6.0
NEAR, FAR = 90, 95  # score buckets: just above the threshold, far above it
Q = {NEAR: 0.12, FAR: 0.01}
STABLE, AFTER = 3_000, 3_000


def _counts() -> tuple[Any, Any, Any, dict[int, float]]:
    far = TARGET / (NEAR_SHARE * NEAR_RATIO + 1 - NEAR_SHARE)
    rates = {NEAR: NEAR_RATIO * far, FAR: far}
    labelled, errors, drafts = (np.zeros(100, dtype=np.int64) for _ in range(3))
    for bucket, share, seen in ((NEAR, NEAR_SHARE, 3_000), (FAR, 1 - NEAR_SHARE, 1_400)):
        labelled[bucket], errors[bucket] = seen, round(seen * rates[bucket])
        drafts[bucket] = round(100_000 * share)
    return labelled, errors, drafts, rates


def run(streams: int) -> dict[str, Any]:
    labelled, errors, drafts, rates = _counts()
    p0 = {b: baseline(labelled, errors, drafts, bucket=b, low=NEAR, target=TARGET) for b in rates}
    settings = DriftSettings()
    weights = [NEAR_SHARE * Q[NEAR], (1 - NEAR_SHARE) * Q[FAR]]
    false = {"by_bucket": 0, "flat": 0}
    delays: list[int] = []
    for seed in range(streams):
        rng = random.Random(seed)

        def audits(scale: float, n: int, rng: random.Random = rng) -> list[tuple[int, bool]]:
            picks = rng.choices([NEAR, FAR], weights=weights, k=n)
            return [(b, rng.random() < scale * rates[b]) for b in picks]

        by_bucket = flat = 0.0
        fired = {"by_bucket": False, "flat": False}
        for b, error in audits(1.0, STABLE):
            by_bucket = cusum_step(by_bucket, error, p0[b], settings)
            flat = cusum_step(flat, error, TARGET, settings)
            fired["by_bucket"] |= alarm(by_bucket, settings)
            fired["flat"] |= alarm(flat, settings)
        for name, hit in fired.items():
            false[name] += hit
        by_bucket = 0.0
        for n, (b, error) in enumerate(audits(3.0, AFTER), start=1):
            by_bucket = cusum_step(by_bucket, error, p0[b], settings)
            if alarm(by_bucket, settings):
                delays.append(n)
                break
    ordered = sorted(delays)
    return {
        "streams": streams,
        "stable_audits": STABLE,
        "baselines": {"near": round(p0[NEAR], 4), "far": round(p0[FAR], 4)},
        "false_alarm_share": {k: round(v / streams, 4) for k, v in false.items()},
        "tripled_detected_share": round(len(delays) / streams, 4),
        "audits_to_detect_tripled": {
            "median": ordered[len(ordered) // 2] if ordered else None,
            "p95": ordered[int(len(ordered) * 0.95)] if ordered else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--json", default="bench/results/drift.json")
    args = parser.parse_args(argv)
    write_result("drift", run(args.streams), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
