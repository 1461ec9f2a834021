"""Routing tallies: what the route stage tells the learner about the drafts it routed.

The certificate counts every eligible draft, auto-approved ones included, but the faust learner
sees only human decisions. So each route batch also writes, in the same transaction as the
routed drafts, one tally per (content type, threshold version, slice, bet class) to the router's
by-type topic, keyed by content type like the decisions. A draft's tally is committed before its
needs-review record is visible, so on that partition it always comes before the draft's
decision: the learner counts a draft as pending before its verdict can arrive.

A tally is a few hundred bytes whatever the batch: counts per score bucket, and the q of each
audit in it (an audit's pessimistic weight is 1/q), for one slice of routing time.

A tally moves the certificate as much as the verdicts do (a forged count of clean auto-approved
drafts would raise every e-value), so it is signed with the router's own key, the one its
thresholds carry, and the learner drops one that no router key signed (`tally_verifier`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from hitl_runtime.signing import Verifier, verifier_for
from hitl_schemas.common import ContentType, Probability
from hitl_schemas.events import AuditPhase, without_exploring
from router.config import RouterSettings
from router.evidence import BUCKETS, bucket_of

# The record's CloudEvents type on the by-type topic, next to the decisions it precedes.
TALLY_TYPE = "io.hitlgate.router.routing-tally.v1"
MAX_AUDITS = 100_000  # per tally: more than any batch holds


class TallyCell(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: Annotated[int, Field(ge=0, lt=BUCKETS)]
    auto: Annotated[int, Field(ge=0)] = 0  # auto-approved, not audited: x = 0
    reviewed: Annotated[int, Field(ge=0)] = 0  # sent to a human with q = 1
    audit_q: Annotated[list[Annotated[Probability, Field(gt=0.0)]], Field(max_length=MAX_AUDITS)]


class RoutingTally(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    content_type: ContentType
    threshold_version: Annotated[int, Field(ge=0)]
    slice: Annotated[int, Field(ge=0)]  # the drafts' slice of routing time (evidence.slice_of)
    review_all: bool  # routed while every draft of the type was reviewed
    audit_phase: AuditPhase = "explore"  # with review_all, the drafts' bet class
    cells: Annotated[list[TallyCell], Field(max_length=BUCKETS)]

    @model_serializer(mode="wrap")
    def _omit_explore(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_exploring(handler(self))


@dataclass
class _Cell:
    auto: int = 0
    reviewed: int = 0
    audit_q: list[float] = field(default_factory=list)


class Tallies:
    """The route stage's tallies for the batch in hand."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, int, int, bool, AuditPhase], dict[int, _Cell]] = {}

    def add(
        self, content_type: str, version: int, at: int, *, score: float, q: float,
        review_all: bool, phase: AuditPhase, reviewed: bool,
    ) -> None:  # fmt: skip
        cells = self._open.setdefault((content_type, version, at, review_all, phase), {})
        cell = cells.setdefault(bucket_of(score), _Cell())
        if not reviewed:
            cell.auto += 1
        elif q >= 1.0:
            cell.reviewed += 1
        else:
            cell.audit_q.append(q)

    def drain(self) -> list[RoutingTally]:
        out = [
            RoutingTally(
                content_type=content_type,
                threshold_version=version,
                slice=at,
                review_all=review_all,
                audit_phase=phase,
                cells=[
                    TallyCell(bucket=b, auto=c.auto, reviewed=c.reviewed, audit_q=c.audit_q)
                    for b, c in sorted(cells.items())
                ],
            )
            for (content_type, version, at, review_all, phase), cells in self._open.items()
        ]
        self._open.clear()
        return out


def tally_verifier(settings: RouterSettings, topic: str) -> Verifier:
    """Checks tallies on the by-type `topic` against the keys trusted for the router's
    thresholds (every replica's, this one's included)."""
    thresholds = verifier_for(settings, "router-thresholds")
    return Verifier(topic, thresholds.keys, enforce=thresholds.enforce, service=thresholds.service)
