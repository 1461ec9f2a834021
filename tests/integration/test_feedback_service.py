"""feedback against a real broker: examples out with lineage, exactly once, and the export."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Message, Producer

from feedback.export import export, read_examples
from forgery import KINDS, REASONS, forged
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.serde import decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import Signer
from hitl_schemas import DeadLetter, FeedbackExample, examples
from testkit import group_consumed_all, read_to_end, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def decision(i: int, verdict: str = "edit") -> Any:
    draft = examples.draft(
        draft_id=f"f-{i:05d}", content_type="chat_reply" if i % 2 else "customer_email"
    )
    final = {
        "edit": draft.text.replace("30 days", "14 days"),
        "approve": draft.text,
        "reject": None,
    }
    return examples.decision(
        decision_id=f"dec-{i}",
        draft_id=draft.draft_id,
        content_type=draft.content_type,
        draft=draft,
        verdict=verdict,
        final_text=final[verdict],
        reason_codes=[] if verdict == "approve" else ["other"],
        decided_at=examples.T0 + timedelta(minutes=i),
    )


def feedback_process(settings: ServiceSettings, instance: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "HITL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HITL_TOPIC_PREFIX": settings.topic_prefix,
        "HITL_POLICY_FILE": str(ROOT / "policy" / "default.yaml"),
        "HITL_INSTANCE_ID": instance,
        "HITL_GROUP_ID": f"fb-{instance}",
        "HITL_BATCH_SIZE": "50",
        "HITL_METRICS_PORT": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "feedback"],
        env=env,  # noqa: S603
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_cleanly(service: subprocess.Popen[bytes]) -> None:
    service.send_signal(signal.SIGTERM)
    _, err = service.communicate(timeout=60)
    assert service.returncode == 0, err.decode()[-2000:]


def assert_one_example_per_draft(records: list[Message], *, drafts: int) -> None:
    counts = Counter(decode(FeedbackExample, m.value()).draft_id for m in records)
    assert len(counts) == drafts and max(counts.values()) == 1


def test_one_example_per_decision_with_lineage_through_kill_9(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    publisher = EventPublisher(producer_factory(), settings, signer=signer)  # as review-api
    ids = []
    for i in range(4000):
        event = decision(i, ("edit", "approve", "reject")[i % 3])
        publisher.publish("decisions", event.draft_id, event)
        ids.append(event.draft_id)
    publisher.flush()
    out = f"{topics}retraining-feedback"
    instance = f"fb-{uuid.uuid4().hex[:6]}"

    first = feedback_process(settings, instance)
    try:
        read_to_end(kafka_bootstrap, out, at_least=300, timeout=90, until_end=False)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert len(read_to_end(kafka_bootstrap, out)) < len(ids), "killed after the end: proves nothing"
    second = feedback_process(settings, instance)
    try:
        records = read_to_end(kafka_bootstrap, out, at_least=len(ids), timeout=120)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()[-2000:]
    examples_out = [decode(FeedbackExample, m.value()) for m in records]
    counts = Counter(e.draft_id for e in examples_out)
    assert sorted(counts) == ids and max(counts.values()) == 1
    lineage = {e.draft_id: e.lineage for e in examples_out}
    assert lineage["f-00000"].topic == "decisions" and lineage["f-00000"].offset == 0
    assert {e.verdict for e in examples_out} == {"edit", "approve", "reject"}


def test_a_decision_sent_twice_becomes_one_example(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    """review-api's relay is at-least-once: after a crash it re-sends decisions with the same
    decision_id. Copies in the same batch and in later batches are both dropped."""
    publisher = EventPublisher(producer_factory(), settings, signer=signer)  # as review-api
    sent = [decision(i) for i in range(300)]
    for event in [*sent, sent[0], sent[1]]:  # two copies, in the same batch as their originals
        publisher.publish("decisions", event.draft_id, event)
    publisher.flush()
    out = f"{topics}retraining-feedback"
    service = feedback_process(settings, f"fb-{uuid.uuid4().hex[:6]}")
    try:
        read_to_end(kafka_bootstrap, out, at_least=len(sent), timeout=90)
        for event in sent[:50]:  # copies long after their originals were committed
            publisher.publish("decisions", event.draft_id, event)
        marker = decision(999)
        publisher.publish("decisions", marker.draft_id, marker)
        publisher.flush()
        records = read_to_end(kafka_bootstrap, out, at_least=len(sent) + 1, timeout=90)
    finally:
        stop_cleanly(service)
    assert_one_example_per_draft(records, drafts=len(sent) + 1)


def test_a_decision_sent_again_after_feedback_restarted_becomes_one_example(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    """The chaos suite's duplicate: feedback commits an example and is killed; review-api's
    relay then sends the decision again. The restarted replica starts its memory from the
    examples already on `retraining-feedback`, so the copy is dropped there too."""
    publisher = EventPublisher(producer_factory(), settings, signer=signer)  # as review-api
    sent = [decision(i) for i in range(200)]
    for event in sent:
        publisher.publish("decisions", event.draft_id, event)
    publisher.flush()
    out = f"{topics}retraining-feedback"
    instance = f"fb-{uuid.uuid4().hex[:6]}"
    first = feedback_process(settings, instance)
    try:
        read_to_end(kafka_bootstrap, out, at_least=len(sent), timeout=90)
    finally:
        first.kill()  # kill -9: nothing of its memory survives
        first.wait(30)
    for event in sent[:100]:  # the relay's re-send, after the restart
        publisher.publish("decisions", event.draft_id, event)
    marker = decision(999)
    publisher.publish("decisions", marker.draft_id, marker)
    publisher.flush()
    second = feedback_process(settings, instance)
    try:
        # Every copy handled (committed past), not only the marker's partition.
        wait_for(
            lambda: group_consumed_all(
                kafka_bootstrap, f"{topics}fb-{instance}", f"{topics}decisions"
            ),
            timeout=90,
            what="the restarted replica to consume every decision",
        )
        records = read_to_end(kafka_bootstrap, out, at_least=len(sent) + 1, timeout=90)
    finally:
        stop_cleanly(second)
    assert_one_example_per_draft(records, drafts=len(sent) + 1)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("kind", ["labels", "preferences"])
def test_export_both_kinds_and_formats_read_back_field_by_field(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    tmp_path: Path,
    kind: str,
    fmt: str,
) -> None:
    from feedback.examples import to_example
    from hitl_schemas import Lineage

    publisher = EventPublisher(producer_factory(), settings)
    written = []
    for i in range(12):
        event = decision(i, ("edit", "approve", "reject")[i % 3])
        example = to_example(
            event, Lineage(topic="decisions", partition=0, offset=i), None, examples.T0
        )
        publisher.publish("retraining-feedback", event.draft_id, example)
        written.append(example)
    publisher.flush()
    since = examples.T0 + timedelta(minutes=2)
    wanted = [
        e
        for e in written
        if e.decided_at >= since
        and e.content_type == "customer_email"
        and (kind == "labels" or e.verdict == "edit")
    ]

    output = tmp_path / f"out.{fmt}"
    rows = read_examples(
        settings, since=since, until=None, content_type="customer_email", progress=False
    )
    count = export(rows, output, kind=kind, fmt=fmt)  # type: ignore[arg-type]

    if fmt == "jsonl":
        back = [json.loads(line) for line in output.read_text().splitlines()]
    else:
        back = pq.read_table(output).to_pylist()
    assert count == len(back) == len(wanted) > 0
    for row, example in zip(back, wanted, strict=True):
        assert row["draft_id"] == example.draft_id
        if kind == "preferences":
            assert (row["chosen"], row["rejected"]) == (example.final_text, example.draft.text)
            assert example.draft.context.prompt in row["prompt"]
        else:
            assert (row["verdict"], row["is_error"], row["text"]) == (
                example.verdict,
                example.is_error,
                example.draft.text,
            )
            assert row["confidence"] == example.score.confidence
            signals = row["signals"] if fmt == "jsonl" else json.loads(row["signals"])
            assert signals == {s.name: s.value for s in example.score.signals}


def test_retraining_publishes_a_better_model_and_the_running_scorer_serves_it(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    monkeypatch: pytest.MonkeyPatch,
    kafka_bootstrap: str,
) -> None:
    import threading

    from unit.feedback.world import world  # the synthetic world of the training unit tests

    from feedback import retrain_cli
    from scorer.app import bootstrap
    from scorer.config import ScorerSettings
    from testkit import wait_for

    publisher = EventPublisher(producer_factory(), settings)
    for example in world(3000, seed=11):
        publisher.publish("retraining-feedback", example.draft_id, example)
    publisher.flush()

    scorer_settings = ScorerSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topics,
        metrics_port=0,
        policy_file=ROOT / "policy" / "default.yaml",
        transactional_id=f"tx-{uuid.uuid4().hex[:6]}",
        group_id=f"sc-{uuid.uuid4().hex[:6]}",
        model_wait_seconds=5,
    )
    service = bootstrap(scorer_settings)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert service.models.current.version == "prior-2"
        monkeypatch.setenv("HITL_KAFKA_BOOTSTRAP", kafka_bootstrap)
        monkeypatch.setenv("HITL_TOPIC_PREFIX", topics)
        monkeypatch.setenv("HITL_POLICY_FILE", str(ROOT / "policy" / "default.yaml"))
        assert retrain_cli.main(["--publish"]) == 0
        wait_for(
            lambda: service.models.current.version.startswith("trained-"),
            timeout=60,
            what="the scorer to serve the retrained model",
        )
        [published] = read_to_end(kafka_bootstrap, f"{topics}scorer-models", at_least=1)
        model = decode(examples.model_version().__class__, published.value())
        assert model.evaluation["holdout_log_loss"] < model.evaluation["serving_log_loss"]
    finally:
        stop.set()
        thread.join(30)


def test_the_running_service_retrains_on_its_own_and_publishes_a_better_model(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    import threading

    from prometheus_client import REGISTRY
    from unit.feedback.world import world

    from feedback.app import bootstrap
    from feedback.config import FeedbackSettings
    from hitl_schemas import ModelVersion
    from testkit import wait_for

    def published_runs() -> float:
        sample = REGISTRY.get_sample_value
        return sample("hitl_feedback_retrain_runs_total", {"outcome": "published"}) or 0.0

    publisher = EventPublisher(producer_factory(), settings, signer=signer)  # as review-api
    for i, example in enumerate(world(1800, seed=13)):
        event = examples.decision(
            decision_id=f"dec-{i}",
            draft_id=example.draft_id,
            draft=example.draft.model_copy(update={"draft_id": example.draft_id}),
            content_type=example.content_type,
            verdict=example.verdict,
            final_text=example.draft.text if example.verdict == "approve" else None,
            reason_codes=[] if example.verdict == "approve" else ["other"],
            score=example.score,
            decided_at=example.decided_at,
        )
        publisher.publish("decisions", event.draft_id, event)
    publisher.flush()
    before = published_runs()

    instance = f"fb-{uuid.uuid4().hex[:6]}"
    service = bootstrap(
        FeedbackSettings(
            kafka_bootstrap=kafka_bootstrap,
            topic_prefix=topics,
            metrics_port=0,
            policy_file=ROOT / "policy" / "default.yaml",
            instance_id=instance,
            group_id=instance,
            batch_size=300,
            retrain_every_examples=1500,  # small N: one run once 1500 examples are committed
            retrain_every_seconds=3600,
            retrain_min_examples=1000,
            retrain_window_examples=5000,
        )
    )
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        [record] = read_to_end(kafka_bootstrap, f"{topics}scorer-models", at_least=1, timeout=180)
        model = decode(ModelVersion, record.value())
        assert model.version.startswith("trained-")
        # The older 80 % of what was committed when the run read the topic (1500 to 1800).
        assert 1200 <= model.trained_on_examples <= 1440
        evaluation = model.evaluation
        assert evaluation["holdout_log_loss"] < evaluation["serving_log_loss"]
        assert "holdout_review_rate_at_target.customer_email" in evaluation
        assert "serving_review_rate_at_target.customer_email" in evaluation
        assert "text_ngrams" in model.feature_names
        wait_for(lambda: published_runs() == before + 1, timeout=30, what="the run counted")
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()


def test_forged_decisions_are_dead_lettered_and_never_become_training_data(
    settings: ServiceSettings,
    topics: str,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    """A plain producer's fake approvals once became FeedbackExamples (and so training data):
    now each lands on `decisions.dlq` as `unverified`, and only review-api's signed ones learn."""
    plain = producer_factory()
    reasons: dict[str, str] = {}
    for i in range(120):
        kind = KINDS[i % len(KINDS)]
        fake = decision(10_000 + i, "approve")
        other = fake.model_copy(update={"verdict": "approve", "decision_id": f"x-{i}"})
        value, headers = forged("decisions", fake.draft_id, fake, signer, kind, other=other)
        plain.produce(f"{topics}decisions", key=fake.draft_id.encode(), value=value,
                      headers=headers)  # fmt: skip
        reasons[fake.draft_id] = REASONS[kind]
    plain.flush(10)
    publisher = EventPublisher(producer_factory(), settings, signer=signer)
    real = [decision(i) for i in range(30)]
    for event in real:
        publisher.publish("decisions", event.draft_id, event)
    publisher.flush()
    service = feedback_process(settings, f"fb-{uuid.uuid4().hex[:6]}")
    try:
        records = read_to_end(kafka_bootstrap, f"{topics}retraining-feedback", at_least=len(real))
        letters = read_to_end(kafka_bootstrap, f"{topics}decisions.dlq", at_least=len(reasons))
    finally:
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=60)
    assert service.returncode == 0, err.decode()[-2000:]
    learned = sorted(decode(FeedbackExample, m.value()).draft_id for m in records)
    assert learned == sorted(e.draft_id for e in real)  # not one forged approval among them
    dead = [decode(DeadLetter, m.value()) for m in letters]
    assert Counter(x.error.kind for x in dead) == {"unverified": len(reasons)}
    assert {(x.original_key_b64, x.service) for x in dead} == {
        (base64.b64encode(k.encode()).decode(), "feedback") for k in reasons
    }
