"""From signal results to the named numeric features the combiner model reads."""

from __future__ import annotations

import math
from collections.abc import Mapping

from hitl_schemas import Draft
from scorer.signals.base import SignalResult

RISK_SIGNALS = ("pii", "toxicity", "tone", "commitments", "grounding", "form")
FEATURES = (
    "producer_logit",
    "producer_absent",
    *RISK_SIGNALS,
    "grounding_unverifiable",
    "signals_failed",
    "log_chars",
)


def _logit(p: float) -> float:
    p = min(0.99, max(0.01, p))
    return math.log(p / (1.0 - p))


def features(draft: Draft, results: Mapping[str, SignalResult | None]) -> dict[str, float]:
    """A failed signal (None) contributes 0 to its feature and 1 to `signals_failed`."""
    producer = results.get("producer_confidence")
    absent = producer is None or producer.details.get("source") == "absent"
    grounding = results.get("grounding")
    out = {
        "producer_logit": 0.0 if absent or producer is None else _logit(producer.value),
        "producer_absent": 1.0 if absent else 0.0,
        "grounding_unverifiable": 1.0
        if grounding is not None and grounding.details.get("unverifiable")
        else 0.0,
        "signals_failed": float(sum(1 for r in results.values() if r is None)),
        "log_chars": math.log1p(len(draft.text)) / 10.0,
    }
    for name in RISK_SIGNALS:
        result = results.get(name)
        out[name] = 0.0 if result is None else result.value
    return out
