"""The one topic registry: names, keys, value types, partitions, retention, compaction.

Every service, the admin command and the Helm chart read topic facts from here. A deployment
may put all names behind a prefix (HITL_TOPIC_PREFIX), which is how tests isolate a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitl_schemas.common import SCHEMA_VERSION, Event
from hitl_schemas.events import (
    DeadLetter,
    Decision,
    Draft,
    FeedbackExample,
    ModelVersion,
    RoutedDraft,
    ScoredDraft,
    ThresholdState,
)

DAY_MS = 24 * 60 * 60 * 1000
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    value: type[Event]
    partitions: int
    retention_ms: int
    compacted: bool = False
    description: str = ""

    def config(self) -> dict[str, str]:
        """Broker topic configs for `topics create`."""
        if self.compacted:
            return {
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": "60000",
                "segment.ms": str(DAY_MS),
            }
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


def _spec(
    name: str, key: str, value: type[Event], partitions: int, days: int, description: str
) -> TopicSpec:
    return TopicSpec(name, key, value, partitions, days * DAY_MS, description=description)


_DATA_TOPICS: tuple[TopicSpec, ...] = (
    _spec("drafts", "draft_id", Draft, 6, 7, "AI drafts from producers"),
    _spec("scored", "draft_id", ScoredDraft, 6, 7, "drafts with confidence and signals"),
    _spec("auto-approved", "draft_id", RoutedDraft, 6, 7, "drafts released without review"),
    _spec("needs-review", "draft_id", RoutedDraft, 6, 14, "drafts a human must review"),
    _spec("decisions", "draft_id", Decision, 6, 30, "final human decisions"),
    _spec("retraining-feedback", "draft_id", FeedbackExample, 6, 90, "training examples"),
    TopicSpec(
        "router-thresholds",
        "content_type",
        ThresholdState,
        1,
        0,
        compacted=True,
        description="current threshold per content type",
    ),
    TopicSpec(
        "scorer-models",
        "model name",
        ModelVersion,
        1,
        0,
        compacted=True,
        description="scorer combiner model versions",
    ),
)

_CONSUMED = ("drafts", "scored", "needs-review", "decisions", "router-thresholds", "scorer-models")

TOPICS: dict[str, TopicSpec] = {t.name: t for t in _DATA_TOPICS} | {
    f"{name}{DLQ_SUFFIX}": _spec(
        f"{name}{DLQ_SUFFIX}",
        "original key",
        DeadLetter,
        1,
        30,
        f"records from {name} that could not be processed, with the reason",
    )
    for name in _CONSUMED
}

EVENT_TYPES: dict[type[Event], str] = {
    Draft: "draft",
    ScoredDraft: "scored_draft",
    RoutedDraft: "routed_draft",
    Decision: "decision",
    FeedbackExample: "feedback_example",
    ThresholdState: "threshold_state",
    ModelVersion: "model_version",
    DeadLetter: "dead_letter",
}


def event_type_of(model: type[Event]) -> str:
    """CloudEvents `type` of a model, e.g. `io.hitlgate.draft.v1`."""
    return f"io.hitlgate.{EVENT_TYPES[model]}.v{SCHEMA_VERSION}"


def topic(name: str, prefix: str = "") -> str:
    """The broker-side name of a registered topic, behind the deployment's prefix."""
    if name.endswith(DLQ_SUFFIX):
        base = name[: -len(DLQ_SUFFIX)]
        if base not in _CONSUMED:
            raise KeyError(f"no DLQ is registered for topic {base!r}")
    elif name not in TOPICS:
        raise KeyError(f"unknown topic {name!r}; registered: {', '.join(TOPICS)}")
    return f"{prefix}{name}"


def dlq_of(name: str) -> str:
    """Registered DLQ name for a registered input topic (without prefix)."""
    dlq = f"{name}{DLQ_SUFFIX}"
    if dlq not in TOPICS:
        raise KeyError(f"topic {name!r} has no DLQ; only consumed topics do")
    return dlq
