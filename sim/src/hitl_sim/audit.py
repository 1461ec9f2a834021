"""The invariants of DESIGN.md, checked over what the topics hold after a run.

Pure: it takes the draft ids each topic held (one entry per committed record, as a
read_committed reader saw them) and counts, per stage, what was expected, what arrived, what is
missing and what arrived more than once. `read_flow` in `chaos` is the Kafka edge that fills a
`Flow`; the chaos suite fails on any missing or duplicated record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Flow:
    """Draft ids per topic, one entry per committed record."""

    drafts: list[str]
    scored: list[str]
    routed: list[str]  # auto-approved and needs-review together
    needs_review: list[str]
    decisions: list[tuple[str, str]]  # (draft id, decision id)
    feedback: list[str]
    dead_drafts: list[str] = field(default_factory=list)  # drafts.dlq, mapped back to draft ids
    other_dead_letters: int = 0  # any DLQ record of a later stage: valid input should never get one


@dataclass(frozen=True)
class StageAudit:
    name: str
    expected: int  # distinct ids that must arrive once
    delivered: int  # distinct expected ids that arrived
    missing: int
    duplicates: int  # records beyond the first, for expected ids
    unexpected: int  # records for ids that were never expected

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0 and self.unexpected == 0


def stage(
    name: str,
    expected: Iterable[str],
    arrived: Iterable[str],
    copies: Counter[str] | None = None,
) -> StageAudit:
    """`copies`: how many records of an id may arrive (default one); the scorer scores each
    record the producer wrote, so a draft published twice is scored twice (and routed once)."""
    want = set(expected)
    counts = Counter(arrived)
    delivered = sum(1 for i in want if counts[i] > 0)
    allowed = copies or Counter()
    return StageAudit(
        name=name,
        expected=len(want),
        delivered=delivered,
        missing=len(want) - delivered,
        duplicates=sum(
            n - max(1, allowed[i])
            for i, n in counts.items()
            if i in want and n > max(1, allowed[i])
        ),
        unexpected=sum(n for i, n in counts.items() if i not in want),
    )


@dataclass(frozen=True)
class Audit:
    published_twice: int  # the producer's concern, not the pipeline's: reported, not judged
    stages: list[StageAudit]
    other_dead_letters: int
    # Copies of one decision (same decision id): the outbox relay delivers at least once, so a
    # kill between the broker's ack and the database's "sent" mark publishes a row again, and
    # readers drop the copy by decision id. Two different decisions for one item fail "decided".
    redelivered_decisions: int = 0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages) and self.other_dead_letters == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "published_twice": self.published_twice,
            "other_dead_letters": self.other_dead_letters,
            "redelivered_decisions": self.redelivered_decisions,
            "stages": [asdict(s) | {"ok": s.ok} for s in self.stages],
        }


def audit(flow: Flow) -> Audit:
    """Invariant 1: each draft routed once or dead-lettered once, also one its producer
    published twice (the scorer's own output once per record published); invariant 2: each
    needs-review item decided once; and each decision learned from once."""
    drafts = set(flow.drafts)
    dead = set(flow.dead_drafts)
    live = drafts - dead
    reviewed = set(flow.needs_review)
    distinct_decisions = set(flow.decisions)
    decided = {draft_id for draft_id, _ in distinct_decisions} & reviewed
    return Audit(
        published_twice=len(flow.drafts) - len(drafts),
        stages=[
            stage("scored", live, flow.scored, copies=Counter(flow.drafts)),
            stage("routed or dead-lettered", drafts, [*flow.routed, *flow.dead_drafts]),
            stage("decided", reviewed, [draft_id for draft_id, _ in distinct_decisions]),
            stage("learned (feedback example)", decided, flow.feedback),
        ],
        other_dead_letters=flow.other_dead_letters,
        redelivered_decisions=len(flow.decisions) - len(distinct_decisions),
    )


def owed(flow: Flow, *, limit: int = 20) -> dict[str, list[str]]:
    """Per stage, the first `limit` ids still missing (sorted): what a stuck run owes."""
    dead = set(flow.dead_drafts)
    live = set(flow.drafts) - dead
    reviewed = set(flow.needs_review)
    decided = {draft_id for draft_id, _ in flow.decisions} & reviewed
    wanted = {
        "scored": (live, set(flow.scored)),
        "routed or dead-lettered": (set(flow.drafts), set(flow.routed) | dead),
        "decided": (reviewed, decided),
        "learned (feedback example)": (decided, set(flow.feedback)),
    }
    return {
        name: sorted(expected - arrived)[:limit]
        for name, (expected, arrived) in wanted.items()
        if expected - arrived
    }


def render(result: Audit) -> str:
    lines = [f"{'stage':<28}{'expected':>9}{'delivered':>10}{'missing':>8}{'dups':>6}{'extra':>7}"]
    for s in result.stages:
        lines.append(
            f"{s.name:<28}{s.expected:>9}{s.delivered:>10}{s.missing:>8}{s.duplicates:>6}"
            f"{s.unexpected:>7}"
        )
    lines.append(
        f"drafts published twice by the producer: {result.published_twice}; dead letters from "
        f"later stages: {result.other_dead_letters}; decision copies redelivered (dropped by "
        f"decision id downstream): {result.redelivered_decisions}"
    )
    lines.append(f"verdict: {'OK' if result.ok else 'FAILED'}")
    return "\n".join(lines)
