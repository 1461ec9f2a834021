"""The router (a real faust worker process) against a real broker."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from forgery import KINDS, REASONS, WORDS, forged
from hitl_runtime.cloudevents import ce_headers
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.serde import decode, encode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import Signer
from hitl_schemas import (
    DeadLetter,
    RoutedDraft,
    RoutingSnapshot,
    Signal,
    ThresholdState,
    examples,
)
from testkit import read_to_end, trusting_policy, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLEAN = [Signal(name=n, value=0.0) for n in ("pii", "toxicity", "grounding", "tone")]


class RouterProcess:
    def __init__(self, settings: ServiceSettings, data_dir: Path, policy_file: Path) -> None:
        self.env = os.environ | {
            "HITL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "HITL_TOPIC_PREFIX": settings.topic_prefix,
            "HITL_POLICY_FILE": str(policy_file),
            "HITL_INTERNAL_PARTITIONS": "1",
            "HITL_RECERTIFY_EVERY": "10",
            "HITL_DATA_DIR": str(data_dir),
            "HITL_METRICS_PORT": "0",
            "HITL_LOG_FORMAT": "text",
            "HITL_INSTANCE_ID": f"router-{settings.topic_prefix.rstrip('.')}",
        }
        self.log = data_dir / "router.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "router"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture
def router(settings: ServiceSettings, topics: str, tmp_path: Path) -> Iterator[RouterProcess]:
    """A router whose types start on their default thresholds (`testkit.trusting_policy`)."""
    process = RouterProcess(settings, tmp_path, trusting_policy(tmp_path))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def router_reviewing_all(
    settings: ServiceSettings, topics: str, tmp_path: Path
) -> Iterator[RouterProcess]:
    """A router on the shipped policy: every type reviews all until it certifies."""
    process = RouterProcess(settings, tmp_path, ROOT / "policy" / "default.yaml")
    process.start()
    yield process
    process.stop()


def scored(
    draft_id: str,
    confidence: float,
    content_type: str = "customer_email",
    signals: list[Signal] | None = None,
) -> Any:
    return examples.scored_draft(
        draft=examples.draft(draft_id=draft_id, content_type=content_type),
        score=examples.score(confidence=confidence, signals=signals or CLEAN),
    )


def routed_records(
    bootstrap: str, prefix: str, at_least: int, timeout: float = 90
) -> list[RoutedDraft]:
    out = []
    for name in ("auto-approved", "needs-review"):
        at_least_here = 0 if name == "auto-approved" else 0
        out += [
            decode(RoutedDraft, m.value())
            for m in read_to_end(
                bootstrap, f"{prefix}{name}", at_least=at_least_here, timeout=timeout
            )
        ]
    return out


def wait_routed(bootstrap: str, prefix: str, count: int, timeout: float = 120) -> list[RoutedDraft]:
    from testkit import wait_for

    result: list[RoutedDraft] = []

    def enough() -> bool:
        nonlocal result
        result = routed_records(bootstrap, prefix, 0)
        return len(result) >= count

    wait_for(enough, timeout=timeout, interval=1.0, what=f"{count} routed drafts")
    return result


def test_scored_drafts_are_routed_once_with_reasons(
    router: RouterProcess,
    settings: ServiceSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
) -> None:
    publisher = EventPublisher(producer_factory(), settings)
    cases = {
        "low": scored("low", 0.40),
        "high": scored("high", 0.999),
        "pii": scored("pii", 0.999, signals=[Signal(name="pii", value=1.0), *CLEAN[1:]]),
        "poem": scored("poem", 0.999, content_type="poem"),
        "legal": scored("legal", 0.999, content_type="legal_clause"),
    }
    for key, event in cases.items():
        publisher.publish("scored", key, event)
    producer_factory().produce(f"{settings.topic_prefix}scored", key=b"junk", value=b"{oops")
    publisher.flush()

    routed = {r.draft.draft_id: r for r in wait_routed(kafka_bootstrap, settings.topic_prefix, 5)}
    assert sorted(routed) == sorted(cases)
    assert (routed["low"].route, routed["low"].reason.kind) == ("needs_review", "low_confidence")
    assert routed["high"].reason.kind in ("above_threshold", "audit")
    assert (routed["pii"].reason.kind, routed["pii"].reason.rule) == ("hard_rule", "pii_found")
    assert routed["poem"].reason.kind == "unknown_content_type"
    assert routed["legal"].reason.kind == "review_all"
    assert all(r.threshold_version == 0 for r in routed.values())
    [letter] = read_to_end(kafka_bootstrap, f"{settings.topic_prefix}scored.dlq", at_least=1)
    assert decode(DeadLetter, letter.value()).error.kind == "invalid_json"


def decision_for(routed: RoutedDraft, verdict: str = "approve") -> Any:
    """review-api's decision on a routed draft: its routing snapshot says where the router
    counted it."""
    snapshot = RoutingSnapshot.of(routed)
    draft = routed.draft
    return examples.decision(
        decision_id=f"decision-{draft.draft_id}",
        draft_id=draft.draft_id,
        draft=draft,
        content_type=draft.content_type,
        verdict=verdict,
        final_text=draft.text if verdict == "approve" else None,
        routing=snapshot,
    )


def review(
    publisher: EventPublisher, bootstrap: str, prefix: str, drafts: dict[str, Any]
) -> list[RoutedDraft]:
    """Publish scored drafts, wait until each is on needs-review, approve each as review-api
    would; the routed records."""
    for draft_id, event in drafts.items():
        publisher.publish("scored", draft_id, event)
    publisher.flush()

    def waiting() -> list[RoutedDraft]:
        records = read_to_end(bootstrap, f"{prefix}needs-review")
        routed = [decode(RoutedDraft, m.value()) for m in records]
        mine = [r for r in routed if r.draft.draft_id in drafts]
        return mine if len(mine) == len(drafts) else []

    routed = wait_for(waiting, timeout=120, interval=1, what=f"{len(drafts)} drafts to review")
    for r in routed:
        publisher.publish("decisions", r.draft.draft_id, decision_for(r))
    publisher.flush()
    return routed


def decision(i: int, confidence: float, verdict: str = "approve") -> Any:
    snapshot = examples.routing_snapshot().model_copy(
        update={
            "confidence": confidence,
            "reason": "low_confidence",
            "audit": False,
            "audit_q": 1.0,
        }
    )
    draft = examples.draft(draft_id=f"dec-{i}")
    return examples.decision(
        decision_id=f"decision-{i}",
        draft_id=f"dec-{i}",
        draft=draft,
        verdict=verdict,
        final_text=draft.text if verdict == "approve" else None,
        routing=snapshot,
    )


def test_decisions_certify_a_threshold_that_is_published_and_survives_kill_9(
    router_reviewing_all: RouterProcess,
    settings: ServiceSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    """Cold start: every customer email is reviewed; clean verdicts on enough of them (the
    route stage's tallies count the drafts, the decisions bring their verdicts) certify a
    threshold, which the route stage then serves; the learned state survives kill -9."""
    router = router_reviewing_all
    prefix = settings.topic_prefix
    publisher = EventPublisher(producer_factory(), settings, signer=signer)  # as review-api
    drafts = {f"dec-{i}": scored(f"dec-{i}", 0.97) for i in range(260)}
    routed = review(publisher, kafka_bootstrap, prefix, drafts)
    assert {r.reason.kind for r in routed} == {"review_all"}
    future = b'{"schema_version": 9}'  # signed by review-api, but a version this build cannot read
    producer_factory().produce(
        f"{prefix}decisions",
        key=b"junk",
        value=future,
        headers=signer.sign("decisions", b"junk", future, []),
    )
    publisher.flush()
    thresholds_topic = f"{prefix}router-thresholds"

    def states() -> list[ThresholdState]:
        return [
            decode(ThresholdState, m.value())
            for m in read_to_end(kafka_bootstrap, thresholds_topic)
        ]

    wait_for(
        lambda: any(s.mode == "certified" for s in states()),
        timeout=120,
        interval=1,
        what="a certified threshold",
    )
    certified = [s for s in states() if s.mode == "certified"][-1]
    assert certified.content_type == "customer_email"
    assert certified.escape_upper_bound == certified.target_escape_rate  # anytime-valid
    assert 215 <= certified.evidence.items <= 260  # 215 clean verdicts are the least that can
    [letter] = read_to_end(kafka_bootstrap, f"{prefix}decisions.dlq", at_least=1)
    assert decode(DeadLetter, letter.value()).error.kind == "unknown_version"

    # Routing follows the new threshold.
    publisher.publish("scored", "after", scored("after", 0.93))
    publisher.flush()
    after = wait_for(
        lambda: [r for r in routed_records(kafka_bootstrap, prefix, 0)
                 if r.draft.draft_id == "after"],
        timeout=60,
        what="a draft routed after the certificate",
    )[0]  # fmt: skip
    assert after.threshold < 0.93 and after.threshold_version > 0

    # kill -9, restart: the learned state comes back from the changelog, and grows.
    router.kill()
    router.start()
    low = {f"low-{i}": scored(f"low-{i}", 0.30) for i in range(10)}  # below any threshold
    review(publisher, kafka_bootstrap, prefix, low)
    wait_for(
        lambda: states()[-1].evidence.items >= certified.evidence.items + 10,
        timeout=120,
        interval=1,
        what="evidence to grow from the recovered state",
    )


def test_kill_9_mid_stream_no_draft_lost_or_duplicated(
    router: RouterProcess,
    settings: ServiceSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
) -> None:
    publisher = EventPublisher(producer_factory(), settings)
    ids = [f"k-{i:05d}" for i in range(8000)]
    for i, draft_id in enumerate(ids):
        publisher.publish("scored", draft_id, scored(draft_id, 0.5 + (i % 50) / 100))
    publisher.flush()
    read_to_end(
        kafka_bootstrap,
        f"{settings.topic_prefix}needs-review",
        at_least=100,
        timeout=120,
        until_end=False,
    )
    router.kill()
    done_at_kill = len(routed_records(kafka_bootstrap, settings.topic_prefix, 0))
    router.start()
    routed = wait_routed(kafka_bootstrap, settings.topic_prefix, len(ids), timeout=240)
    counts = Counter(r.draft.draft_id for r in routed)
    assert done_at_kill < len(ids), "the kill came after the end: the test proves nothing"
    assert sorted(counts) == ids
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1][:5]


def test_a_draft_published_twice_is_routed_once_also_after_kill_9(
    router: RouterProcess,
    settings: ServiceSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
) -> None:
    """An idempotent producer can write a draft twice after a broker crash (an epoch bump):
    the copy is dropped, before and after a restart; an id reused for other content is
    dead-lettered, not dropped, so it cannot inherit the first draft's verdict."""
    publisher = EventPublisher(producer_factory(), settings)
    prefix = settings.topic_prefix
    first_a, first_b = scored("dup-a", 0.999), scored("dup-b", 0.40)
    reused_b = examples.scored_draft(
        draft=examples.draft(draft_id="dup-b", text="Your refund of $2,500 is approved."),
        score=examples.score(confidence=0.999, signals=CLEAN),
    )
    for key, event in [
        ("dup-a", first_a),
        ("dup-b", first_b),
        ("dup-a", first_a),
        ("dup-b", reused_b),
        ("sentinel-1", scored("sentinel-1", 0.40)),
    ]:
        publisher.publish("scored", key, event)  # fmt: skip
    publisher.flush()
    wait_routed(kafka_bootstrap, prefix, 3)

    router.kill()
    router.start()  # its memory is rebuilt from the partition it is assigned
    for key, event in [
        ("dup-a", first_a),
        ("dup-b", first_b),
        ("sentinel-2", scored("sentinel-2", 0.40)),
    ]:
        publisher.publish("scored", key, event)  # fmt: skip
    publisher.flush()
    routed: list[RoutedDraft] = []

    def sentinel_routed() -> bool:
        nonlocal routed
        routed = routed_records(kafka_bootstrap, prefix, 0)
        return any(r.draft.draft_id == "sentinel-2" for r in routed)

    wait_for(sentinel_routed, timeout=120, interval=1.0, what="the second sentinel routed")
    counts = Counter(r.draft.draft_id for r in routed)
    assert counts == {"dup-a": 1, "dup-b": 1, "sentinel-1": 1, "sentinel-2": 1}, counts
    assert {r.draft.draft_id: r.route for r in routed}["dup-b"] == "needs_review"
    letters = [decode(DeadLetter, m.value()) for m in
               read_to_end(kafka_bootstrap, f"{prefix}scored.dlq", at_least=1)]  # fmt: skip
    assert [(d.error.kind, d.error.field) for d in letters] == [("schema", "draft.draft_id")]
    assert router.stop() == 0, "a router asked to stop (SIGTERM) exits 0"


def test_forged_decisions_and_thresholds_do_not_open_the_gate(
    router: RouterProcess,
    settings: ServiceSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    signer: Signer,
) -> None:
    """The hostile review's attack: 150 fake approvals of confident chat replies from a plain
    producer (which once certified chat_reply at 0.50), and a forged low threshold on
    `router-thresholds`. The router dead-letters every forged decision (`unverified`, with the
    reason), learns only the signed ones, and routes by signed thresholds only."""
    prefix = settings.topic_prefix
    plain = producer_factory()
    forgeries: dict[str, str] = {}
    for i in range(150):
        kind = KINDS[i % len(KINDS)]
        fake = decision(1000 + i, 0.97).model_copy(update={"content_type": "chat_reply"})
        other = fake.model_copy(update={"decision_id": f"other-{i}"})
        value, headers = forged("decisions", fake.draft_id, fake, signer, kind, other=other)
        plain.produce(f"{prefix}decisions", key=fake.draft_id.encode(), value=value,
                      headers=headers)  # fmt: skip
        forgeries[fake.draft_id] = REASONS[kind]
    # Ten real decisions after them, on drafts the router routed to review: evidence the
    # router must learn (and all it may learn).
    publisher = EventPublisher(producer_factory(), settings, signer=signer)
    real = {f"real-{i}": scored(f"real-{i}", 0.6, "chat_reply") for i in range(10)}
    review(publisher, kafka_bootstrap, prefix, real)
    # A forged certified 0.50 threshold for customer_email, then a signed one for chat_reply.
    for state, sign in (
        (examples.threshold_state(content_type="customer_email", threshold=0.5, version=7), False),
        (examples.threshold_state(content_type="chat_reply", threshold=0.5, version=7), True),
    ):
        key, body = state.content_type.encode(), encode(state)
        headers = ce_headers(state, source="/hitl-gate/router", subject=state.content_type)
        if sign:
            headers = signer.sign("router-thresholds", key, body, headers)
        plain.produce(f"{prefix}router-thresholds", key=key, value=body, headers=headers)
    plain.flush(10)
    publisher.flush()

    letters = [
        decode(DeadLetter, m.value())
        for m in read_to_end(kafka_bootstrap, f"{prefix}decisions.dlq", at_least=150, timeout=120)
    ]
    assert len(letters) == 150 and {x.error.kind for x in letters} == {"unverified"}
    for letter in letters:  # each says what is wrong with it
        reason = forgeries[base64.b64decode(letter.original_key_b64 or "").decode()]
        words = WORDS[reason]
        assert words in letter.error.message, letter.error.message
    thresholds = f"{prefix}router-thresholds"

    def learned_chat_reply() -> list[ThresholdState]:
        states = [
            decode(ThresholdState, m.value()) for m in read_to_end(kafka_bootstrap, thresholds)
        ]
        return [s for s in states if s.content_type == "chat_reply" and s.version != 7]

    [published] = wait_for(learned_chat_reply, timeout=120, interval=1, what="chat_reply learned")
    assert published.evidence.items == pytest.approx(10, rel=0.01)  # 150 forged: none learned
    assert published.mode != "certified"

    # Routing: the signed threshold is served (once the follower has read past both records),
    # the forged one never is.
    def probe_served(n: list[int] = [0]) -> bool:  # noqa: B006 - a counter across calls
        n[0] += 1
        publisher.publish("scored", f"probe-{n[0]}", scored(f"probe-{n[0]}", 0.6, "chat_reply"))
        publisher.flush()
        routed = routed_records(kafka_bootstrap, prefix, 0)
        return any(
            r.draft.content_type == "chat_reply" and r.threshold_version == 7 for r in routed
        )

    wait_for(probe_served, timeout=60, interval=0.5, what="the signed threshold in service")
    publisher.publish("scored", "email", scored("email", 0.6))
    publisher.flush()
    email = wait_for(
        lambda: [
            r for r in routed_records(kafka_bootstrap, prefix, 0) if r.draft.draft_id == "email"
        ],
        timeout=60,
        what="the customer_email draft routed",
    )[0]
    assert email.threshold_version == 0 and email.route == "needs_review"
