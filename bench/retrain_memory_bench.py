"""How much memory does a retraining run take, and how much of it stays with the service?

    uv run --locked python -m bench.retrain_memory_bench [--examples 50000] [--runs 3]
        [--mode in-process|child] [--json bench/results/retrain_memory.json]

Streams `--examples` synthetic FeedbackExamples (varied text, 40-250 words, so the hashed
n-grams are as sparse as real drafts') into a window of that size, retrains on it `--runs`
times, and reports the process's resident memory (VmRSS) before and after each run and its
peak (VmHWM). `in-process` does the run in this process, as the feedback service did before
issue 15; `child` does it as the service does now (`run_in_child`), and reports the child's
peak as well. The examples are generated as the run reads them, as from Kafka: only the window
is held. Against the code before the change, run it with that tree first on PYTHONPATH (it
falls back to the old `feedback.training.newest`); `child` needs the new code.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import write_result
from hitl_schemas import FeedbackExample, Signal, examples

TARGETS = {"customer_email": 0.05, "chat_reply": 0.03}


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def synthetic(n: int, seed: int) -> Iterator[FeedbackExample]:
    """Reviewed drafts whose verdict depends on two signals and a few words of the text."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(len(vocabulary))]  # Zipf-like, as words are
    for i in range(n):
        words = rng.choices(vocabulary, weights, k=rng.randint(40, 250))
        grounding, form = rng.random() ** 3, rng.random() ** 4
        bad = grounding > 0.5 or form > 0.6 or "w17" in words[:20]
        approved = rng.random() < (0.1 if bad else 0.9)
        yield examples.feedback_example(
            draft_id=f"b-{i}",
            content_type="chat_reply" if i % 3 else "customer_email",
            draft=examples.draft(text=" ".join(words).capitalize() + "."),
            verdict="approve" if approved else "reject",
            final_text=None,
            is_error=not approved,
            score=examples.score(
                signals=[
                    Signal(name="grounding", value=grounding),
                    Signal(name="form", value=form),
                    Signal(name="producer_confidence", value=rng.uniform(0.6, 0.99)),
                ],
                confidence=0.5,
            ),
            decided_at=examples.T0 + timedelta(seconds=i),
        )


def one_run(n: int, seed: int) -> dict[str, Any]:
    """Build the window from the stream and retrain once (in whichever process calls it)."""
    from feedback.training import retrain
    from scorer.model import load_model, prior

    try:
        from feedback.window import newest
    except ImportError:  # the code before issue 15: rows as objects
        from feedback.training import newest  # type: ignore[attr-defined,no-redef]
    started = time.perf_counter()
    window = newest(synthetic(n, seed), n)
    read_s = time.perf_counter() - started
    window_mb = status_mb("VmRSS")
    result = retrain(window, load_model(prior()), TARGETS, min_examples=10)
    return {
        "examples": len(window),
        "read_and_featurise_s": round(read_s, 1),
        "fit_and_evaluate_s": round(time.perf_counter() - started - read_s, 1),
        "rss_with_window_mb": round(window_mb, 1),
        "peak_rss_mb": round(status_mb("VmHWM"), 1),
        "better": None if result is None else result.better,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="retrain_memory_bench", description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=50_000, help="window size (default 50000)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--mode", choices=["in-process", "child"], default="child")
    p.add_argument("--json", default="bench/results/retrain_memory.json")
    args = p.parse_args(argv)
    # What a service has loaded before its first run.
    import sklearn.linear_model  # noqa: F401

    import feedback.training  # noqa: F401

    runs = []
    for i in range(args.runs):
        before = status_mb("VmRSS")
        if args.mode == "child":
            from hitl_runtime.child import run_in_child

            figures = run_in_child(one_run, args.examples, i)
            figures["child_peak_rss_mb"] = figures.pop("peak_rss_mb")
            figures["children_max_rss_mb"] = round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
            )
        else:
            figures = one_run(args.examples, i)
        runs.append({"run": i + 1, "rss_before_mb": round(before, 1)} | figures | {
            "rss_after_mb": round(status_mb("VmRSS"), 1)})  # fmt: skip
        sys.stderr.write(f"{runs[-1]}\n")
    first, last = runs[0]["rss_before_mb"], runs[-1]["rss_after_mb"]
    write_result(
        "retrain_memory",
        {
            "mode": args.mode,
            "examples": args.examples,
            "runs": runs,
            "retained_after_runs_mb": round(last - first, 1),
            "peak_rss_mb": round(status_mb("VmHWM"), 1),
        },
        args.json,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
