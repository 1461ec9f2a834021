"""How does the scorer do on real, human-labelled text? (`hitl-bench scorer`)

Each item of a set (`hitl_sim.corpora`) becomes the draft a producer would send: its text, its
content type, the sources it was written from (if any), no `producer.confidence`. It is scored
offline by the service's own `Scorer`, prior model and toxicity classifier, and judged as the
router would judge it on a type's default threshold: passed when its confidence is at or above
the threshold and it trips no hard rule, caught otherwise. Per set:

- `auc`: of (1 - confidence), defect against clean; next to each signal's own AUC (a combiner
  should not do worse than its best signal);
- `ece`: expected calibration error of the confidence as the chance a draft is acceptable
  (10 equal-width bins), and the reliability curve behind it (`--plot`);
- `clean_passed_share`: the share of clean items the type's default threshold would
  auto-approve; `defects_caught`: below it or tripping a hard rule.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback.evaluation import auc, expected_calibration_error
from hitl_runtime.policy import Policy
from hitl_schemas import Draft, DraftContext, ProducerInfo, Score, SourceDocument
from hitl_sim.corpora import Labelled
from router.core import hard_rule

BINS = 10
CREATED = datetime(2026, 12, 1, tzinfo=UTC)


def as_draft(item: Labelled) -> Draft:
    return Draft(
        draft_id=item.item_id,
        tenant="eval",
        content_type=item.content_type,
        text=item.text,
        context=DraftContext(sources=[SourceDocument(**s) for s in item.sources]),
        producer=ProducerInfo(app="hitl-bench", model="unknown", model_version="unknown"),
        created_at=CREATED,
    )


@dataclass(frozen=True, slots=True)
class Judged:
    item: Labelled
    score: Score
    threshold: float
    rule: str | None

    @property
    def passed(self) -> bool:
        return self.score.confidence >= self.threshold and self.rule is None


def judge(items: Sequence[Labelled], scores: Sequence[Score], policy: Policy) -> list[Judged]:
    out = []
    for item, score in zip(items, scores, strict=True):
        ct = policy.for_type(item.content_type)
        if ct is None:
            raise ValueError(f"{item.item_id}: content type {item.content_type} not in the policy")
        tripped = hard_rule(score.signals, ct)
        out.append(Judged(item, score, ct.default_threshold, tripped[0] if tripped else None))
    return out


def reliability(confidence: Sequence[float], acceptable: Sequence[int]) -> list[dict[str, Any]]:
    """Per bin of confidence: how many items, their mean confidence, the share acceptable."""
    rows = []
    for b in range(BINS):
        low, high = b / BINS, (b + 1) / BINS
        members = [i for i, c in enumerate(confidence)
                   if low <= c < high or (b == BINS - 1 and c == 1.0)]  # fmt: skip
        if members:
            rows.append({
                "bin": [low, high],
                "items": len(members),
                "mean_confidence": round(sum(confidence[i] for i in members) / len(members), 4),
                "acceptable_share": round(sum(acceptable[i] for i in members) / len(members), 4),
            })  # fmt: skip
    return rows


def summarise(judged: Sequence[Judged]) -> dict[str, Any]:
    defect = [int(j.item.defect) for j in judged]
    confidence = [j.score.confidence for j in judged]
    clean = [j for j in judged if not j.item.defect]
    defects = [j for j in judged if j.item.defect]
    signals: dict[str, list[float]] = {}
    for j in judged:
        for s in j.score.signals:
            signals.setdefault(s.name, []).append(s.value)
    per_signal = {
        name: _rounded(auc(values, defect))
        for name, values in sorted(signals.items())
        if len(values) == len(judged)
    }
    held_back: dict[str, int] = {}  # what holds clean items back: the rule, else below threshold
    for j in clean:
        if not j.passed:
            why = j.rule or "below threshold"
            held_back[why] = held_back.get(why, 0) + 1
    clean_signals = {
        name: round(sum(v for v, d in zip(values, defect, strict=True) if not d) / len(clean), 4)
        for name, values in sorted(signals.items())
        if clean and len(values) == len(judged)
    }
    return {
        "items": len(judged),
        "defects": len(defects),
        "auc": _rounded(auc([1.0 - c for c in confidence], defect)),
        "signal_auc": per_signal,
        "ece": round(expected_calibration_error(confidence, [1 - d for d in defect], BINS), 4),
        "clean_passed_share": round(sum(j.passed for j in clean) / len(clean), 4)
        if clean
        else None,
        "defects_caught": sum(not j.passed for j in defects),
        "clean_held_back_by": held_back,
        "clean_signal_mean": clean_signals,
        "reliability": reliability(confidence, [1 - d for d in defect]),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate(items: Sequence[Labelled], policy: Policy, scorer: Any, model: Any) -> dict[str, Any]:
    """Score and judge one set (`scorer`: a `scorer.scoring.Scorer`; `model`: a loaded model)."""
    drafts = [as_draft(item) for item in items]
    started = time.perf_counter()
    scores, _ = scorer.score_batch(drafts, model)
    seconds = time.perf_counter() - started
    return summarise(judge(items, scores, policy)) | {
        "drafts_per_second": round(len(drafts) / seconds, 1) if seconds > 0 else None
    }


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    """One reliability diagram per set: mean confidence against the share acceptable."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.2), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items(), strict=True):
        rows = result["reliability"]
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="calibrated")
        ax.plot([r["mean_confidence"] for r in rows], [r["acceptable_share"] for r in rows],
                marker="o", label=f"scorer (ECE {result['ece']:.3f})")  # fmt: skip
        ax.set(title=f"{name} ({result['items']} items)", xlabel="confidence",
               ylabel="share acceptable", xlim=(0, 1), ylim=(0, 1))  # fmt: skip
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
