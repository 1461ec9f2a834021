"""PII and toxicity CPU on hostile drafts (issue 15 items 3 and 5): thousands of SSNs, e-mails,
phone numbers, and 1 MB texts (prose, digit soup, fullwidth digits, zero-width characters).

    uv run python -m bench.scorer_evasion_bench [--json bench/results/scorer_evasion.json]

Process CPU time (time.process_time) per call, best of --repeat; no broker needed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.common import write_result
from hitl_schemas import Draft, examples
from scorer.signals.base import SignalResult
from scorer.signals.normalize import normalize
from scorer.signals.pii import pii
from scorer.signals.toxicity import ToxicityClassifier, tone

PROSE = (
    "Thanks for your order #48213, it ships on 2026-11-03 for 12.50 EUR. Version 2.3.1 is out. "
    * 12_000
)[:1_000_000]


def _draft(text: str, customer: str | None = None) -> Draft:
    # Built without validation: 1 MB is over the default text limit, on purpose.
    base = examples.draft()
    context = base.context.model_copy(update={"customer_message": customer})
    return base.model_copy(update={"text": text, "context": context})


def _cases() -> list[tuple[str, str, Draft]]:
    ssns = " ".join(f"{100 + i % 600:03d}-{10 + i % 89:02d}-{1000 + i:04d}" for i in range(4166))
    rude = PROSE[:500_000] + " You are a fucking idiot. " + PROSE[:499_000]
    return [
        ("pii", "4166 SSNs (50 KB)", _draft(ssns)),
        (
            "pii",
            "4166 SSNs + 390 KB customer message",
            _draft(ssns, ssns[:200_000] + "x" * 190_000),
        ),
        ("pii", "3000 e-mails", _draft(" ".join(f"u{i}@example{i % 50}.com" for i in range(3000)))),
        ("pii", "3000 phones", _draft(" ".join(f"+44 20 7946 {i:04d}" for i in range(3000)))),
        ("pii", "50 KB prose", _draft(PROSE[:50_000])),
        ("pii", "1 MB prose", _draft(PROSE)),
        ("pii", "1 MB card digits", _draft(("4111 1111 1111 1111 " * 60_000)[:1_000_000])),
        ("pii", "1 MB fullwidth digits", _draft(("４１１１ " * 250_000)[:1_000_000])),
        ("pii", "1 MB zero-width", _draft("a\u200b" * 500_000)),
        ("toxicity", "50 KB prose", _draft(PROSE[:50_000])),
        ("toxicity", "1 MB prose", _draft(PROSE)),
        ("toxicity", "1 MB, insult in the middle", _draft(rude)),
        (
            "toxicity",
            "1 MB leetspeak-like words",
            _draft(("sh1t b1g 4pm A55 " * 60_000)[:1_000_000]),
        ),
        ("tone", "1 MB prose", _draft(PROSE)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", default="bench/results/scorer_evasion.json")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    classifier = ToxicityClassifier()
    signals: dict[str, Callable[[Draft], SignalResult]] = {
        "pii": pii,
        "toxicity": classifier.score,
        "tone": tone,
    }
    rows: list[dict[str, Any]] = []
    for signal, case, draft in _cases():
        best, result = float("inf"), None
        for _ in range(args.repeat):
            normalize.cache_clear()  # each call pays for its own normalisation
            started = time.process_time()
            result = signals[signal](draft)
            best = min(best, time.process_time() - started)
        if result is None:
            raise SystemExit(f"--repeat must be at least 1, got {args.repeat}")
        rows.append(
            {
                "signal": signal,
                "case": case,
                "cpu_ms": round(best * 1000, 1),
                "value": round(result.value, 3),
                "spans": len(result.spans),
            }
        )
    write_result("scorer_evasion", {"cases": rows}, args.json)


if __name__ == "__main__":
    main()
