"""The simulated world: a seeded stream of drafts, each with a ground truth the system never sees.

`stream(scenario)` is deterministic for a seed: the same scenario gives the same drafts, the same
defects and the same producer confidences, so a run can be repeated. The truth ("a careful
human would reject or edit this, and here is the fixed text") stays in the simulator: reviewer
bots and benchmarks read it, the services never do.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from hitl_schemas import Draft, DraftContext, ProducerInfo, SourceDocument
from hitl_sim import templates
from hitl_sim.scenario import Scenario, TypeMix

Verdict = Literal["approve", "edit", "reject"]


@dataclass(frozen=True, slots=True)
class Truth:
    defect: str | None  # the injected defect's kind; None for a clean draft
    verdict: Verdict  # what a careful reviewer does
    fixed_text: str  # the clean draft: what an edit restores
    reason_codes: tuple[str, ...]  # preferred reason codes, best first

    @property
    def is_defect(self) -> bool:
        return self.defect is not None


@dataclass(frozen=True, slots=True)
class SimDraft:
    draft: Draft
    truth: Truth


def producer_confidence(defect: bool, mix: TypeMix, rng: random.Random) -> float:
    """Informative but miscalibrated. The producer's logit is normal around 2.3 (0.91) for a
    clean draft and lower for a defective one, by 3.5 x `confidence_skill`: a skilled model's
    confidence separates them, an unskilled one's overlaps. `overconfidence` then pulls the
    value towards 1 (an overconfident model says 0.97 where 0.9 would be honest)."""
    logit = rng.gauss(2.3 - (3.5 * mix.confidence_skill if defect else 0.0), 0.9)
    raw = 1.0 / (1.0 + math.exp(-logit))
    value = raw + mix.overconfidence * (1 - raw)
    return round(min(0.999, max(0.001, value)), 3)


def _ineligible_sources(sources: list[SourceDocument], f: templates.Facts) -> list[SourceDocument]:
    """What lets a careful reader see that a refund is not due: the delivery was long ago."""
    note = f" Delivered {f.days + 41} days before the customer's message."
    return [
        s.model_copy(update={"text": s.text + note}) if s.source_id.startswith("order-") else s
        for s in sources
    ]


def make(
    index: int,
    content_type: str,
    mix: TypeMix,
    rng: random.Random,
    *,
    run_id: str,
    created_at: datetime,
    tenant: str = "acme",
) -> SimDraft:
    f = templates.facts(rng, index)
    written = templates.write(content_type, f, rng)
    defect = rng.random() < mix.defect_rate
    sources = written.sources
    truth = Truth(None, "approve", written.text, ())
    text = written.text
    if defect:
        kind = templates.pick_defect(content_type, rng)
        text = kind.inject(written, f, rng)
        verdict: Verdict = "reject" if kind.verdict == "reject" else "edit"
        truth = Truth(kind.name, verdict, written.text, kind.reason_codes)
        if kind.name == "not_eligible":
            sources = _ineligible_sources(sources, f)
    confidence = producer_confidence(defect, mix, rng)
    draft = Draft(
        draft_id=f"{run_id}-{index:08d}",
        tenant=tenant,
        content_type=content_type,
        text=text,
        context=DraftContext(
            prompt=f"Write a {content_type.replace('_', ' ')} for the customer.",
            customer_message=written.customer_message,
            sources=sources,
        ),
        producer=ProducerInfo(
            app="support-assistant",
            model="sim-llm",
            model_version="2026-11",
            confidence=confidence if mix.send_confidence else None,
        ),
        metadata={"simulated": True},
        created_at=created_at,
    )
    return SimDraft(draft, truth)


def stream(
    scenario: Scenario,
    *,
    run_id: str | None = None,
    start: datetime | None = None,
    count: int | None = None,
    clock: bool = False,
) -> Iterator[SimDraft]:
    """The scenario's drafts in order. `created_at` follows the scenario's rate from `start`
    (offline), or is the wall clock at generation when `clock` is set (live runs)."""
    rng = random.Random(scenario.seed)
    total = count if count is not None else scenario.drafts
    began = start or datetime(2026, 11, 1, tzinfo=UTC)
    run = run_id or f"{scenario.name}-s{scenario.seed}"
    for index in range(total):
        mix = scenario.mix_at(index / max(1, scenario.drafts))
        names = sorted(mix)
        content_type = rng.choices(names, weights=[mix[n].share for n in names])[0]
        created = datetime.now(UTC) if clock else began + timedelta(seconds=index / scenario.rate)
        yield make(index, content_type, mix[content_type], rng, run_id=run, created_at=created)
