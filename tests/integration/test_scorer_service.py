"""The scorer against a real broker: drafts in, scored out, DLQ, hot swap, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from forgery import KINDS, REASONS, WORDS, forged
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.serde import decode
from hitl_runtime.signing import Signer
from hitl_schemas import DeadLetter, ScoredDraft, examples
from scorer.app import ScorerService, bootstrap
from scorer.config import ScorerSettings
from scorer.model import model_version, prior
from testkit import read_to_end, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scorer_settings(settings_factory: Callable[..., ScorerSettings], topics: str) -> ScorerSettings:
    return settings_factory(
        ScorerSettings,
        service_name="scorer",
        policy_file=ROOT / "policy" / "default.yaml",
        transactional_id=f"tx-{uuid.uuid4().hex[:8]}",
        group_id=f"scorer-{uuid.uuid4().hex[:8]}",
        batch_size=50,
        model_wait_seconds=15,
    )


@pytest.fixture
def running_scorer(scorer_settings: ScorerSettings) -> Iterator[ScorerService]:
    service = bootstrap(scorer_settings)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    yield service
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive(), "scorer did not stop within 30 s of being asked"


def publish_drafts(
    producer: Producer, settings: ScorerSettings, count: int, start: int = 0
) -> list[str]:
    publisher = EventPublisher(producer, settings)
    ids = [f"d-{i:05d}" for i in range(start, start + count)]
    for draft_id in ids:
        publisher.publish("drafts", draft_id, examples.draft(draft_id=draft_id))
    publisher.flush()
    return ids


def test_drafts_in_scored_out_and_bad_input_to_the_dlq(
    running_scorer: ScorerService,
    scorer_settings: ScorerSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
) -> None:
    producer = producer_factory()
    ids = publish_drafts(producer, scorer_settings, 20)
    producer.produce(f"{scorer_settings.topic_prefix}drafts", key=b"bad", value=b"{nope")
    ids += publish_drafts(producer, scorer_settings, 5, start=20)

    scored = read_to_end(kafka_bootstrap, f"{scorer_settings.topic_prefix}scored", at_least=25)
    events = [decode(ScoredDraft, m.value()) for m in scored]
    assert sorted(e.draft.draft_id for e in events) == ids
    assert all(m.key() == e.draft.draft_id.encode() for m, e in zip(scored, events, strict=True))
    assert all(0 < e.score.confidence <= 1 and len(e.score.signals) == 7 for e in events)
    [letter] = read_to_end(kafka_bootstrap, f"{scorer_settings.topic_prefix}drafts.dlq", at_least=1)
    assert decode(DeadLetter, letter.value()).error.kind == "invalid_json"


def test_a_new_model_is_served_without_restart_and_a_bad_one_is_refused(
    running_scorer: ScorerService,
    scorer_settings: ScorerSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    producer = producer_factory()
    publisher = EventPublisher(producer, scorer_settings, signer=signer)  # as feedback
    wait_for(
        lambda: running_scorer.watcher and running_scorer.watcher.caught_up.is_set(), what="watcher"
    )
    better = model_version(version="trained-2", weights={"pii": -3.0}, intercept=5.0)
    publisher.publish("scorer-models", "combiner", better)
    publisher.flush()
    wait_for(lambda: running_scorer.models.current.version == "trained-2", what="model swap")

    corrupted = prior().model_copy(update={"version": "corrupt-3", "sha256": "a" * 64})
    publisher.publish("scorer-models", "combiner", corrupted)
    publisher.flush()
    [letter] = read_to_end(
        kafka_bootstrap, f"{scorer_settings.topic_prefix}scorer-models.dlq", at_least=1
    )
    assert "sha256" in decode(DeadLetter, letter.value()).error.message
    assert running_scorer.models.current.version == "trained-2"

    publish_drafts(producer, scorer_settings, 3)
    scored = read_to_end(kafka_bootstrap, f"{scorer_settings.topic_prefix}scored", at_least=3)
    assert {decode(ScoredDraft, m.value()).score.model_version for m in scored} == {"trained-2"}


def test_a_forged_model_is_refused_and_the_serving_one_stays(
    running_scorer: ScorerService,
    scorer_settings: ScorerSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    """The hostile review's forged model: a valid fingerprint and intercept 12 (every draft
    auto-approved), written by a plain producer. Each forgery is dead-lettered as `unverified`,
    the serving model stays; the next version feedback signed is served."""
    prefix = scorer_settings.topic_prefix
    wait_for(
        lambda: running_scorer.watcher and running_scorer.watcher.caught_up.is_set(), what="watcher"
    )
    evil = model_version(version="trained-666", weights={}, intercept=12.0)
    signed_elsewhere = model_version(version="trained-5", weights={"pii": -3.0}, intercept=1.0)
    plain = producer_factory()
    for kind in KINDS:
        value, headers = forged("scorer-models", "combiner", evil, signer, kind, other=evil)
        if kind == "tampered":  # feedback's real signature over another model, sent with evil
            value, headers = forged(
                "scorer-models", "combiner", signed_elsewhere, signer, kind, other=evil
            )
        plain.produce(f"{prefix}scorer-models", key=b"combiner", value=value, headers=headers)
    plain.flush(10)
    letters = read_to_end(kafka_bootstrap, f"{prefix}scorer-models.dlq", at_least=len(KINDS))
    errors = [decode(DeadLetter, m.value()).error for m in letters]
    assert [e.kind for e in errors] == ["unverified"] * len(KINDS)
    for kind, error in zip(KINDS, errors, strict=True):
        assert WORDS[REASONS[kind]] in error.message, error.message
    assert running_scorer.models.current.version == "prior-2"

    publisher = EventPublisher(producer_factory(), scorer_settings, signer=signer)  # as feedback
    publisher.publish("scorer-models", "combiner", signed_elsewhere)
    publisher.flush()
    wait_for(lambda: running_scorer.models.current.version == "trained-5", what="model swap")


def _scorer_process(settings: ScorerSettings) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "HITL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HITL_TOPIC_PREFIX": settings.topic_prefix,
        "HITL_POLICY_FILE": str(settings.policy_file),
        "HITL_TRANSACTIONAL_ID": settings.effective_transactional_id,
        "HITL_GROUP_ID": settings.group_id,
        "HITL_BATCH_SIZE": "40",
        "HITL_METRICS_PORT": "0",
        "HITL_MODEL_WAIT_SECONDS": "1",
    }
    return subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "scorer"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_kill_9_mid_stream_loses_nothing_and_duplicates_nothing(
    scorer_settings: ScorerSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
) -> None:
    ids = publish_drafts(producer_factory(), scorer_settings, 6000)
    scored_topic = f"{scorer_settings.topic_prefix}scored"

    first = _scorer_process(scorer_settings)
    try:
        read_to_end(kafka_bootstrap, scored_topic, at_least=300, timeout=90, until_end=False)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    done_at_kill = len(read_to_end(kafka_bootstrap, scored_topic))
    assert done_at_kill < len(ids), "the kill came after the end: the test proves nothing"

    second = _scorer_process(scorer_settings)
    try:
        scored = read_to_end(kafka_bootstrap, scored_topic, at_least=len(ids), timeout=120)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()[-2000:]

    counts = Counter(decode(ScoredDraft, m.value()).draft.draft_id for m in scored)
    assert sorted(counts) == ids, "a draft was lost"
    assert max(counts.values()) == 1, f"duplicates: {[k for k, v in counts.items() if v > 1][:5]}"
