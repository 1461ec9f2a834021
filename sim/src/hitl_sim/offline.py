"""Offline inputs for the routing comparison: the simulator's drafts scored by the real scorer,
or a team's own history file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from hitl_runtime.policy import Policy
from hitl_schemas import Score
from hitl_sim.scenario import Scenario
from hitl_sim.world import SimDraft, stream
from router.core import hard_rule
from router.replay import Record
from scorer.model import Combiner, load_model, prior
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier

CHUNK = 1000


def scored_drafts(
    scenario: Scenario, policy: Policy, *, model: Combiner | None = None
) -> Iterator[tuple[SimDraft, Score]]:
    """Each simulated draft with its score from the scorer's own code (signals and combiner,
    the prior unless a model is given), scored in chunks as the service batches them."""
    scorer = Scorer(policy=policy, toxicity=ToxicityClassifier())
    combiner = model or load_model(prior())
    chunk: list[SimDraft] = []
    for sim in stream(scenario):
        chunk.append(sim)
        if len(chunk) == CHUNK:
            yield from _score(scorer, combiner, chunk)
            chunk = []
    yield from _score(scorer, combiner, chunk)


def _score(
    scorer: Scorer, model: Combiner, chunk: list[SimDraft]
) -> Iterator[tuple[SimDraft, Score]]:
    if chunk:
        scores, _ = scorer.score_batch([s.draft for s in chunk], model)
        yield from zip(chunk, scores, strict=True)


def scored_records(
    scenario: Scenario, policy: Policy, *, model: Combiner | None = None
) -> Iterator[Record]:
    """Scored drafts as replay records, with the hard rule each trips; the defect flag is the
    simulator's truth."""
    for sim, score in scored_drafts(scenario, policy, model=model):
        ct = policy.for_type(sim.draft.content_type)
        yield Record(
            draft_id=sim.draft.draft_id,
            content_type=sim.draft.content_type,
            confidence=score.confidence,
            defect=sim.truth.is_defect,
            tripped=None if ct is None else hard_rule(score.signals, ct),
        )


class HistoryLine(BaseModel):
    """One line of a backtest history: what the router saw and what a careful human found."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    draft_id: str = Field(min_length=1)
    content_type: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    # `is_error` too, so the rows of `feedback export --kind labels` replay as they are.
    defect: bool = Field(validation_alias=AliasChoices("defect", "is_error"))
    created_at: str | None = None


class HistoryError(ValueError):
    """A history line that cannot be replayed; names the line and the fix."""


def history_records(source: Iterable[bytes], name: str = "history") -> Iterator[Record]:
    """Streams the file: memory stays bounded for any number of lines. Blank lines are skipped;
    a malformed line stops the run naming its line number, since a silently thinned history
    would give a wrong backtest."""
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        try:
            line = HistoryLine.model_validate(json.loads(raw))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HistoryError(f"{name}:{number}: not a JSON object ({exc})") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise HistoryError(
                f"{name}:{number}: field {field!r}: {first['msg']} (each line needs draft_id, "
                "content_type, confidence in [0, 1] and defect true/false)"
            ) from exc
        yield Record(line.draft_id, line.content_type, line.confidence, line.defect)


def open_history(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise HistoryError(f"cannot read history file {path}: {exc.strerror}") from exc
