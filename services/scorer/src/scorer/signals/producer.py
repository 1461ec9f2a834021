"""The producer's own confidence: reported directly, or from token log-probabilities."""

from __future__ import annotations

import math

from hitl_schemas import Draft
from scorer.signals.base import SignalResult

NAME = "producer_confidence"


def producer_confidence(draft: Draft) -> SignalResult:
    """Reported confidence wins; else the geometric-mean token probability; else absent (0.5)."""
    reported = draft.producer.confidence
    if reported is not None:
        return SignalResult(reported, details={"source": "reported"})
    logprobs = draft.producer.token_logprobs
    if logprobs:
        finite = [lp for lp in logprobs if math.isfinite(lp)]
        if finite:
            mean = sum(finite) / len(finite)
            # The weakest tokens matter more than the average: a confident sentence with one
            # invented number is still wrong. Blend mean with the 5th-percentile token.
            worst = sorted(finite)[max(0, len(finite) // 20 - 1)]
            value = math.exp(0.7 * mean + 0.3 * worst)
            return SignalResult(
                min(1.0, max(0.0, value)),
                details={"source": "logprobs", "tokens": len(finite), "mean_logprob": mean},
            )
    return SignalResult(0.5, details={"source": "absent"})
