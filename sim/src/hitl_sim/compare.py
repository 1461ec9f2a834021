"""Compare routing policies on one stream: ours (the router's own replay) against baselines.

One pass over the records, in bounded memory: the adaptive policy is the router's `replay`
(`router.replay`, the code the service runs); every static policy, and the thresholds chosen in
hindsight, come from per-type confidence histograms at 0.001 resolution filled in the same pass.
A draft that trips a hard rule is reviewed under every policy.

    review_rate  = reviewed / items
    escape_rate  = defective auto-approved / auto-approved   (ground truth)
    audit_rate   = audit-sampled / items                       (adaptive only)

`certified-floor` is not a policy one can run: the fewest reviews any certified rule could
expect (`Comparison.certified_floor`), the anchor for the adaptive policy's review rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hitl_runtime.policy import Policy
from router.confseq import bernoulli_kl
from router.core import CANDIDATES, RouterConfig
from router.replay import Record, ReplayResult, TypeOutcome, replay

BINS = 1001  # confidence floored to 0.001: exact for thresholds on the 0.001 grid
STATIC_THRESHOLDS = (0.85, 0.90)


@dataclass
class TypeHistogram:
    items: list[int] = field(default_factory=lambda: [0] * BINS)
    defects: list[int] = field(default_factory=lambda: [0] * BINS)
    ruled: int = 0  # drafts caught by a hard rule: reviewed whatever the threshold
    total: int = 0

    def add(self, record: Record) -> None:
        self.total += 1
        if record.tripped is not None:
            self.ruled += 1
            return
        b = min(BINS - 1, max(0, int(record.confidence * 1000)))
        self.items[b] += 1
        self.defects[b] += int(record.defect)

    def at_or_above(self) -> Iterator[tuple[int, int, int]]:
        """(threshold bin, auto-approved, escapes) from the loosest threshold 0.000 upwards."""
        auto, escapes = sum(self.items), sum(self.defects)
        for b in range(BINS):
            yield b, auto, escapes
            auto -= self.items[b]
            escapes -= self.defects[b]

    def outcome(self, threshold_bin: int) -> tuple[int, int]:
        """(auto-approved, escapes) under `confidence >= threshold_bin / 1000`."""
        auto = sum(self.items[threshold_bin:])
        return auto, sum(self.defects[threshold_bin:])


def _type_row(
    items: int, reviewed: int, auto: int, escapes: int, target: float | None
) -> dict[str, Any]:
    escape_rate = escapes / auto if auto else 0.0
    return {
        "items": items,
        "review_rate": round(reviewed / items, 4) if items else 0.0,
        "escape_rate": round(escape_rate, 4),
        "target": target,
        "within_target": None if target is None else escape_rate <= target,
    }


def _summary(
    rows: dict[str, dict[str, Any]], totals: tuple[int, int, int, int, int]
) -> dict[str, Any]:
    items, reviewed, auto, escapes, audits = totals
    return {
        "review_rate": round(reviewed / items, 4) if items else 0.0,
        "escape_rate": round(escapes / auto, 4) if auto else 0.0,
        "audit_rate": round(audits / items, 4) if items else 0.0,
        "all_within_target": all(r["within_target"] is not False for r in rows.values()),
        "per_content_type": rows,
    }


class Comparison:
    """Feed records once (`observe`), then ask for each policy's numbers."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.histograms: dict[str, TypeHistogram] = {}

    def observe(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.histograms.setdefault(record.content_type, TypeHistogram()).add(record)
            yield record

    def target(self, content_type: str) -> float | None:
        ct = self.policy.for_type(content_type)
        return None if ct is None else ct.target_escape_rate

    def static(self, thresholds: dict[str, int]) -> dict[str, Any]:
        """Per-type threshold bins (a bin above 1000 reviews everything)."""
        rows: dict[str, dict[str, Any]] = {}
        totals = [0, 0, 0, 0, 0]
        for name, hist in sorted(self.histograms.items()):
            known = self.policy.for_type(name) is not None
            auto, escapes = hist.outcome(thresholds[name]) if known else (0, 0)
            reviewed = hist.total - auto
            rows[name] = _type_row(hist.total, reviewed, auto, escapes, self.target(name))
            if thresholds[name] <= 1000:
                rows[name]["threshold"] = thresholds[name] / 1000
            for i, v in enumerate((hist.total, reviewed, auto, escapes, 0)):
                totals[i] += v
        return _summary(rows, (totals[0], totals[1], totals[2], totals[3], totals[4]))

    def everywhere(self, threshold_bin: int) -> dict[str, int]:
        return dict.fromkeys(self.histograms, threshold_bin)

    def oracle(self) -> dict[str, int]:
        """Per type, the loosest threshold whose hindsight escape rate meets the target."""
        chosen: dict[str, int] = {}
        for name, hist in self.histograms.items():
            target = self.target(name)
            chosen[name] = BINS  # review everything unless a threshold meets the target
            if target is None:
                continue
            for b, auto, escapes in hist.at_or_above():
                if auto and escapes / auto <= target:
                    chosen[name] = b
                    break
        return chosen

    def certified_floor(self) -> dict[str, Any]:
        """The honest anchor for a certified rule: per type, the least of
        N*F(t) + ln(1/delta) / KL(R(t) || target) over the router's candidate thresholds t
        (Wald's expected verdicts for a bettor who knew the true escape rate R(t) above t;
        F(t) the share below t), plus the hard-rule drafts, capped at review-all. The oracle
        escapes at exactly its target; no certified rule can match it."""
        rows: dict[str, dict[str, Any]] = {}
        totals = [0, 0, 0, 0, 0]
        for name, hist in sorted(self.histograms.items()):
            ct = self.policy.for_type(name)
            best = (float(hist.total), 0, 0)  # (reviewed, auto-approved, escapes): review all
            eligible = hist.total - hist.ruled
            for t in CANDIDATES:
                if ct is None:
                    break
                tail, escapes = hist.outcome(round(t * 1000))
                rate = escapes / tail if tail else 1.0
                if not tail or rate >= ct.target_escape_rate:
                    continue
                wald = math.log(1 / ct.delta) / bernoulli_kl(rate, ct.target_escape_rate)
                checked = min(float(tail), wald)
                reviewed = hist.ruled + (eligible - tail) + checked
                if reviewed < best[0]:
                    auto = tail - checked
                    best = (reviewed, round(auto), round(escapes * auto / tail))
            reviewed, auto, escapes = best
            rows[name] = _type_row(hist.total, round(reviewed), auto, escapes, self.target(name))
            for i, v in enumerate((hist.total, round(reviewed), auto, escapes, 0)):
                totals[i] += v
        return _summary(rows, (totals[0], totals[1], totals[2], totals[3], totals[4]))

    def compliant_global(self) -> int:
        """The loosest single threshold that keeps every type within its target in hindsight."""
        oracle = self.oracle()
        # Escape rates are not monotone in the threshold, so check each candidate for all types.
        for b in range(max(oracle.values(), default=BINS), BINS):
            if all(self._meets(name, b) for name in self.histograms):
                return b
        return BINS

    def _meets(self, name: str, b: int) -> bool:
        target = self.target(name)
        if target is None:
            return True
        auto, escapes = self.histograms[name].outcome(b)
        return not auto or escapes / auto <= target


def adaptive_summary(result: ReplayResult, comparison: Comparison) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    totals = [0, 0, 0, 0, 0]
    for name, o in sorted(result.by_type.items()):
        rows[name] = _type_row(
            o.items, o.reviewed, o.auto_approved, o.escapes, comparison.target(name)
        )
        state = result.states.get(name)
        if state is not None:
            rows[name] |= {"final_threshold": state.threshold, "final_mode": state.mode}
        rows[name]["certified_escape_rate"] = round(o.certified_escape_rate, 4)
        for i, v in enumerate((o.items, o.reviewed, o.auto_approved, o.escapes, o.audits)):
            totals[i] += v
    return _summary(rows, (totals[0], totals[1], totals[2], totals[3], totals[4]))


@dataclass
class Report:
    policies: dict[str, dict[str, Any]]
    curves: dict[str, TypeOutcome]  # the adaptive run's thresholds and escape curve per type
    items: int
    unknown_content_type_items: int  # reviewed under every policy, as the router does


def compare(records: Iterable[Record], policy: Policy, *, delay: int = 200) -> Report:
    comparison = Comparison(policy)
    result = replay(comparison.observe(records), policy, RouterConfig(), delay=delay)
    policies: dict[str, dict[str, Any]] = {
        "review-all": comparison.static(comparison.everywhere(BINS)),
        **{
            f"static-{t:.2f}": comparison.static(comparison.everywhere(round(t * 1000)))
            for t in STATIC_THRESHOLDS
        },
        "adaptive": adaptive_summary(result, comparison),
        "oracle-static": comparison.static(comparison.oracle()),
        "certified-floor": comparison.certified_floor(),
        "static-compliant": comparison.static(comparison.everywhere(comparison.compliant_global())),
    }
    items = sum(h.total for h in comparison.histograms.values())
    unknown = sum(
        h.total for name, h in comparison.histograms.items() if policy.for_type(name) is None
    )
    return Report(policies, result.by_type, items, unknown)
