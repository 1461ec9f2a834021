"""Content types come from producers: every metric labelled by one must stay bounded by the
policy, however many types are made up (issue 15 item 7: 2,000 invented types were 4,000 series
per service). One rule, hitl_runtime.metrics.content_type_label, and each service's path to it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from hitl_runtime.dlq import DeadLetterPublisher
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.metrics import UNKNOWN_CONTENT_TYPE, content_type_label
from hitl_runtime.policy import load_policy
from hitl_runtime.serde import encode
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import examples
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(POLICY_FILE)
KNOWN = POLICY.content_types
MADE_UP = 2_000


class RecordingProducer:
    """Stands in for confluent's Producer under a real EventPublisher: keeps what is produced."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes]] = []

    def produce(self, topic: str, *, key: bytes, value: bytes, **_: Any) -> None:
        self.produced.append((topic, value))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def publishers(service: str) -> tuple[EventPublisher, DeadLetterPublisher]:
    settings = ServiceSettings(service_name=service)
    publisher = EventPublisher(RecordingProducer(), settings)  # type: ignore[arg-type]
    return publisher, DeadLetterPublisher(publisher, service=service, topic_prefix="")


def made_up_types() -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"madeup_{tag}_{i}" for i in range(MADE_UP)]


def record(topic: str, event: Any, offset: int) -> Message:
    return Message(topic=topic, partition=0, offset=offset, key=b"k", value=encode(event))


def label_values(sample_name: str) -> set[str]:
    return {
        sample.labels["content_type"]
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == sample_name
    }


def assert_bounded(sample_name: str, types: list[str]) -> None:
    seen = label_values(sample_name)
    assert UNKNOWN_CONTENT_TYPE in seen
    assert not seen & set(types), f"{sample_name} has a series per made-up type"
    assert seen <= {*KNOWN, UNKNOWN_CONTENT_TYPE}


@pytest.mark.parametrize(
    ("content_type", "label"),
    [
        ("customer_email", "customer_email"),
        ("chat_reply", "chat_reply"),
        ("customer_emails", UNKNOWN_CONTENT_TYPE),  # near a known name is still unknown
        ("madeup", UNKNOWN_CONTENT_TYPE),
        ("", UNKNOWN_CONTENT_TYPE),
    ],
)
def test_a_type_outside_the_policy_gets_the_shared_label(content_type: str, label: str) -> None:
    assert content_type_label(content_type, KNOWN) == label


def test_the_shared_label_can_never_be_a_real_content_type() -> None:
    with pytest.raises(ValueError, match="content_type"):
        examples.draft(content_type=UNKNOWN_CONTENT_TYPE)


def test_two_thousand_made_up_types_make_at_most_one_series_more_than_the_policy() -> None:
    registry = CollectorRegistry()
    counter = Counter("t_total", "t", ["content_type"], registry=registry)
    for content_type in [*made_up_types(), *KNOWN]:
        counter.labels(content_type_label(content_type, KNOWN)).inc()
    [family] = [f for f in registry.collect() if f.name == "t"]
    series = {s.labels["content_type"] for s in family.samples if s.name == "t_total"}
    assert len(series) <= len(KNOWN) + 1
    assert registry.get_sample_value("t_total", {"content_type": UNKNOWN_CONTENT_TYPE}) == MADE_UP


def unsigned(**fields: Any) -> dict[str, Any]:
    """Settings fields for a service fed unsigned test events (signing: issue 15 item 2)."""
    return fields | {"signing_disabled": True} if "signing_disabled" in FIELDS else fields


FIELDS = ServiceSettings.model_fields


def test_scorer_counts_made_up_types_under_one_label() -> None:
    from scorer.app import bootstrap
    from scorer.config import ScorerSettings

    # The service's own wiring; its Kafka clients connect lazily and are never used here.
    service = bootstrap(ScorerSettings(**unsigned()), policy=POLICY, watch_models=False)
    service.publisher, service.dead_letters = publishers("scorer")
    types = made_up_types()
    service.process(
        [
            record("drafts", examples.draft(draft_id=f"d{i}", content_type=t, text="Hi."), i)
            for i, t in enumerate(types)
        ]
    )
    assert_bounded("hitl_scorer_drafts_scored_total", types)


def test_router_counts_made_up_types_under_one_label() -> None:
    from router.config import RouterSettings
    from router.core import RouterConfig
    from router.stages import RouteStage

    stage = RouteStage(RouterSettings(**unsigned()), POLICY, RouterConfig())  # lazy clients
    stage.publisher, stage.dead_letters = publishers("router")
    types = made_up_types()
    stage.handle(
        [
            record("scored", examples.scored_draft(draft=examples.draft(content_type=t)), i)
            for i, t in enumerate(types)
        ]
    )
    assert_bounded("hitl_router_routed_total", types)


def test_router_exports_no_threshold_for_a_type_outside_the_policy() -> None:
    from router import metrics

    state = examples.threshold_state(content_type=made_up_types()[0])
    metrics.export_threshold(state, KNOWN)
    assert state.content_type not in label_values("hitl_router_threshold")


def test_feedback_counts_made_up_types_under_one_label() -> None:
    from feedback.app import bootstrap
    from feedback.config import FeedbackSettings

    service = bootstrap(FeedbackSettings(**unsigned(retrain_enabled=False)), policy=POLICY)
    service.publisher, service.dead_letters = publishers("feedback")
    types = made_up_types()
    service.handle(
        [
            record("decisions", examples.decision(decision_id=f"x{i}", content_type=t), i)
            for i, t in enumerate(types)
        ]
    )
    assert_bounded("hitl_feedback_examples_total", types)


def test_review_queue_gauges_add_up_made_up_types_under_one_label() -> None:
    from review_api.readmodels import queue_gauges

    now = datetime(2026, 1, 1, tzinfo=UTC)
    groups = [("senior", t, 2, now - timedelta(seconds=i)) for i, t in enumerate(made_up_types())]
    groups.append(("junior", "customer_email", 3, now - timedelta(seconds=5)))
    assert queue_gauges(groups, KNOWN, now) == {
        ("senior", UNKNOWN_CONTENT_TYPE): (2 * MADE_UP, float(MADE_UP - 1)),
        ("junior", "customer_email"): (3, 5.0),
    }
