"""review-api's bounded outputs (issue 15), on a real broker and database: a routed draft that
carries a draft at the size limit is ingested (not refused as oversized); a decision too large
to publish goes out without its span lists, or, when even that cannot fit, to decisions.dlq with
the reason, so the relay is not stuck retrying it and the decisions behind it are published."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from bench.pg import fresh_postgres_database, postgres_base_url
from hitl_runtime.dlq import DeadLetterPublisher
from hitl_runtime.kafka import EventPublisher, make_producer
from hitl_runtime.limits import event_bytes
from hitl_runtime.metrics import DLQ_MESSAGES
from hitl_runtime.serde import decode, encode
from hitl_schemas import DeadLetter, Decision, DraftContext, Signal, Span, examples
from review_api import adapters
from review_api.config import ReviewApiSettings
from review_api.store import add_outbox, create_schema, make_engine, sessions, unsent_outbox
from testkit import read_to_end

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def limits_settings(
    request: pytest.FixtureRequest, settings_factory: Callable[..., Any], topics: str,
    tmp_path: Path,
) -> ReviewApiSettings:  # fmt: skip
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/review.db"
        if request.param == "sqlite"
        else fresh_postgres_database(postgres_base_url())
    )
    settings: ReviewApiSettings = settings_factory(
        ReviewApiSettings,
        service_name="review-api",
        database_url=url,
        policy_file=ROOT / "policy" / "default.yaml",
        group_id=f"review-{uuid.uuid4().hex[:8]}",
        signing_disabled=True,  # what is measured here is size; signing has its own tests
    )
    return settings


def decision(decision_id: str, *, control_chars: int = 0, spans: int = 0) -> Decision:
    """A valid Decision; each control character in the prompt is six bytes of JSON."""
    draft = examples.draft(
        draft_id=decision_id, context=DraftContext(prompt="\x01" * control_chars)
    )
    flagged = [Span(start=i, end=i + 1, label="email address") for i in range(spans)]
    score = examples.score(signals=[Signal(name="pii", value=1.0, spans=flagged)])
    return examples.decision(
        decision_id=decision_id, draft_id=decision_id, draft=draft, score=score
    )


def test_an_oversized_decision_is_shrunk_or_dead_lettered_and_the_relay_goes_on(
    limits_settings: ReviewApiSettings, kafka_bootstrap: str
) -> None:
    settings = limits_settings
    limit = event_bytes(Decision, settings.max_message_bytes)
    hopeless = decision("x-1", control_chars=360_000)  # 2.16 MB with nothing to drop
    spanned = decision("x-2", control_chars=300_000, spans=9_000)  # 1.8 MB once spans are counts
    normal = decision("x-3")
    assert len(encode(hopeless)) > limit and len(encode(spanned)) > limit
    dead_before = DLQ_MESSAGES.labels("review-api", "decisions", "output_too_large")._value.get()

    async def scenario() -> tuple[int, int, int]:
        engine = make_engine(settings.database_url)
        await create_schema(engine)
        make = sessions(engine)
        now = datetime.now(UTC)
        async with make() as s, s.begin():
            for event in (hopeless, spanned, normal):
                await add_outbox(s, topic=f"{settings.topic_prefix}decisions", key=event.draft_id,
                                 payload=event.model_dump_json(), now=now)  # fmt: skip
        producer = make_producer(settings)
        first = await adapters.relay_once(make, producer, settings)
        again = await adapters.relay_once(make, producer, settings)
        async with make() as s:
            left = len(await unsent_outbox(s, 10))
        await engine.dispose()
        return first, again, left

    # Before: the client refused x-1 and x-2 on every pass, forever; they never left the outbox.
    assert asyncio.run(scenario()) == (3, 0, 0)
    prefix = settings.topic_prefix
    published = {
        m.key(): decode(Decision, m.value())
        for m in read_to_end(kafka_bootstrap, f"{prefix}decisions", at_least=2)
    }
    assert sorted(published) == [b"x-2", b"x-3"]
    [pii] = published[b"x-2"].score.signals
    assert (pii.spans, pii.spans_omitted) == ([], 9_000)
    assert published[b"x-2"].model_dump(exclude={"score"}) == spanned.model_dump(exclude={"score"})
    assert published[b"x-3"] == normal
    [letter] = read_to_end(kafka_bootstrap, f"{prefix}decisions.dlq", at_least=1)
    dead = DeadLetter.model_validate_json(letter.value() or b"")
    assert (letter.key(), dead.error.kind, dead.service) == (
        b"x-1",
        "output_too_large",
        "review-api",
    )
    size = len(hopeless.model_dump_json().encode())
    assert f"decision x-1 would be {size} bytes, over the limit of {limit}" in dead.error.message
    assert "stays in review-api's outbox, row 1" in dead.error.message
    after = DLQ_MESSAGES.labels("review-api", "decisions", "output_too_large")._value.get()
    assert after == dead_before + 1


def test_a_routed_draft_over_the_draft_limit_is_ingested(
    limits_settings: ReviewApiSettings, kafka_bootstrap: str
) -> None:
    settings = limits_settings
    big = examples.routed_draft(
        draft=examples.draft(draft_id="big-r", context=DraftContext(prompt="\x01" * 250_000))
    )
    value = encode(big)
    assert (
        settings.max_message_bytes < len(value) < event_bytes(type(big), settings.max_message_bytes)
    )
    msg = Message(topic=f"{settings.topic_prefix}needs-review", partition=0, offset=0,
                  key=b"big-r", value=value, headers=[])  # fmt: skip
    dead_letters = DeadLetterPublisher(
        EventPublisher(make_producer(settings), settings),
        service="review-api",
        topic_prefix=settings.topic_prefix,
    )

    async def scenario() -> int:
        engine = make_engine(settings.database_url)
        await create_schema(engine)
        new = await adapters.ingest_batch(sessions(engine), [msg], dead_letters, settings)
        await engine.dispose()
        return new

    assert asyncio.run(scenario()) == 1  # before: refused as oversized, never reviewed
    dead_letters.flush()
    assert read_to_end(kafka_bootstrap, f"{settings.topic_prefix}needs-review.dlq") == []
