"""Poison input (issue 9): bad records of every kind, drawn by hypothesis, mixed into a valid
stream on `drafts`, `scored` and `decisions`, through the real scorer, router and feedback
processes. Every bad record lands on its topic's DLQ with its reason, once per service reading
the topic; every valid draft is routed exactly once, every valid decision becomes exactly one
example; no service exits, restarts or logs a traceback."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as run_settings
from hypothesis import strategies as st

import hitl_schemas as hs
from hitl_runtime.cloudevents import ce_headers
from hitl_runtime.kafka import make_producer
from hitl_runtime.limits import event_bytes
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.signing import Signer
from hitl_schemas import examples

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MODELS = {"drafts": hs.Draft, "scored": hs.ScoredDraft, "decisions": hs.Decision}
READERS = {"drafts": ("scorer",), "scored": ("router",), "decisions": ("router", "feedback")}
BAD = {"drafts": 30, "scored": 10, "decisions": 10}  # per category
VALID_DRAFTS, VALID_DECISIONS, DEADLINE = 300, 40, 75.0
DRAFT_AT = {"drafts": (), "scored": ("draft",), "decisions": ("draft",)}  # the Draft in the body
TYPES = ["customer_email", "chat_reply", "refund_offer", "legal_clause", "poem"]
SERIAL = itertools.count()
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | st.integers() | FLOATS | st.text()
JSON = st.recursive(SCALARS, lambda k: st.lists(k) | st.dictionaries(st.text(), k), max_leaves=6)
NOT_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]
OUTPUTS = ["auto-approved", "needs-review", "retraining-feedback", "drafts.dlq", "scored.dlq",
           "decisions.dlq"]  # fmt: skip
CATEGORIES = ("not_json empty wrong_type missing_field unknown_field non_finite unknown_version "
              "oversized invalid_utf8 bad_header").split()  # fmt: skip
Headers = list[tuple[str, str | bytes | None]]


@dataclass
class Rec:
    topic: str
    category: str
    value: bytes | None
    key: bytes | None
    headers: Headers
    kinds: tuple[str, ...]  # the error kinds that name its problem
    offset: int = -1


def sample(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """n examples from hypothesis's generation phase. Not one big example: that overruns
    hypothesis's 8 KiB choice buffer, and its first example is the simplest one."""
    out: list[Any] = []

    @run_settings(max_examples=n, phases=[Phase.generate], deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def base(topic: str) -> dict[str, Any]:
    """A valid body for the topic, as JSON data, with ids of its own."""
    n = next(SERIAL)
    draft = examples.draft(draft_id=f"p-{n:05d}")
    if topic == "drafts":
        return draft.model_dump(mode="json")
    if topic == "scored":
        return examples.scored_draft(draft=draft).model_dump(mode="json")
    event = examples.decision(decision_id=f"pd-{n:05d}", draft_id=draft.draft_id, draft=draft)
    return event.model_dump(mode="json")


def paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON tree, the root first."""
    node = dict(enumerate(node)) if isinstance(node, list) else node
    kids = node.items() if isinstance(node, dict) else []
    return [here, *itertools.chain.from_iterable(paths(v, (*here, k)) for k, v in kids)]


def at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def valid(topic: str, value: bytes) -> bool:
    try:
        decode(MODELS[topic], value)
    except EventValidationError:
        return False
    return True


@st.composite
def bad_record(draw: st.DrawFn, topic: str, category: str) -> Rec:
    body = base(topic)
    key, headers = draw(st.none() | st.binary(max_size=24)), Headers()
    value, kinds = None, ("schema",)
    draft = at(body, DRAFT_AT[topic])
    if category == "not_json":
        value = draw(st.binary(min_size=1) | st.text(min_size=1).map(str.encode))
        kinds = ("invalid_json", "schema")
    elif category == "empty":
        value, kinds = draw(st.sampled_from([None, b""])), ("invalid_json",)
    elif category == "wrong_type":
        path = draw(st.sampled_from(paths(body)[1:]))
        at(body, path[:-1])[path[-1]] = draw(JSON)
        kinds = ("schema", "unknown_version")
    elif category in ("missing_field", "unknown_field"):
        dicts = [p for p in paths(body) if isinstance(at(body, p), dict) and at(body, p)]
        node = at(body, draw(st.sampled_from(dicts)))
        if category == "missing_field":
            del node[draw(st.sampled_from(sorted(node)))]
        else:  # an unknown name, at times longer than a DeadLetter's 2,000-character field
            name = draw(st.text(min_size=1) | st.integers(2001, 3000).map("f".__mul__))
            node[f"x-{name}"] = draw(JSON)
    elif category == "non_finite":  # JSON has no NaN or Infinity; Python's json writes them
        number = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
        if draw(st.booleans()):
            draft["metadata"]["x"] = number
        else:
            draft["producer"]["token_logprobs"] = [-1.0, number]
        value, kinds = json.dumps(body).encode(), ("invalid_json", "schema")
    elif category == "unknown_version":
        body["schema_version"] = draw(st.integers().filter(lambda v: v != 1) | st.just("2"))
        kinds = ("unknown_version",)
    elif category == "oversized":  # text over 50,000 characters, or a record over its limit
        kinds = ("oversized",)
        if draw(st.integers(0, 3)):
            draft["text"] = "x" * draw(st.integers(50_001, 100_000))
        else:  # a Draft's limit is 1 MiB; events that carry one may reach 2 MiB less 16 KiB
            least = 1_048_577 if topic == "drafts" else event_bytes(MODELS[topic], 1_048_576) + 1
            pad = b"z" * draw(st.integers(least, 2_000_000 if topic == "drafts" else least + 4_000))
            value = json.dumps(body).encode()[:-1] + b', "pad": "' + pad + b'"}'
    elif category == "invalid_utf8":
        raw = json.dumps(body).encode()
        cut = raw.index(b'"text": "') + 9 + draw(st.integers(0, 20))
        value, kinds = raw[:cut] + draw(st.sampled_from(NOT_UTF8)) + raw[cut:], ("invalid_json",)
    else:  # a valid body whose CloudEvents headers contradict it, or are not text
        value, kinds = json.dumps(body).encode(), ("schema", "unknown_version")
        headers = ce_headers(MODELS[topic].model_validate(body), source="/poison")
        names = ["ce_specversion", "ce_type", "ce_id", "ce_source", "ce_time", "content-type"]
        name = draw(st.sampled_from(names))
        others = [b"io.hitlgate.draft.v2", hs.event_type_of(hs.Decision).encode(), b"0.3", b"1.0 "]
        wrong = draw(st.none() | st.binary() | st.sampled_from(others))
        if wrong is not None and (name not in names[:2] or wrong == dict(headers)[name]):
            wrong = b"\xff" + wrong  # the other attributes must only be text
        headers = [(n, wrong if n == name else v) for n, v in headers]
    if value is None and category != "empty":
        value = json.dumps(body).encode()
        if valid(topic, value):  # the mutation happened to be harmless: make it an unknown field
            value = json.dumps(body | {"x-unexpected": True}).encode()
    return Rec(topic, category, value, key, headers, kinds)


@st.composite
def valid_draft(draw: st.DrawFn) -> Rec:
    draft = examples.draft(
        draft_id=f"v-{next(SERIAL):05d}",
        content_type=draw(st.sampled_from(TYPES)),
        text=draw(st.text(max_size=400)),
        metadata=draw(st.dictionaries(st.text(max_size=9), SCALARS, max_size=8)),
    )
    key = draw(st.sampled_from([draft.draft_id.encode(), None]))
    headers = draw(st.sampled_from([[], ce_headers(draft, source="/poison"), [("t", b"\xff")]]))
    return Rec("drafts", "valid", draft.model_dump_json().encode(), key, headers, ())


def start(module: str, settings: ServiceSettings, logs: Path) -> subprocess.Popen[bytes]:
    ident = f"{module}-{settings.topic_prefix.rstrip('.')}"
    hitl = {"KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "TOPIC_PREFIX": settings.topic_prefix,
            "POLICY_FILE": str(ROOT / "policy/default.yaml"), "METRICS_PORT": "0",
            "LOG_FORMAT": "text", "INSTANCE_ID": ident, "TRANSACTIONAL_ID": ident,
            "GROUP_ID": ident, "MODEL_WAIT_SECONDS": "1", "INTERNAL_PARTITIONS": "1",
            "RETRAIN_ENABLED": "false", "DATA_DIR": str(logs / "router-data")}  # fmt: skip
    # PYTHONFAULTHANDLER: a crash in C code leaves its Python stack in the log.
    env = os.environ | {f"HITL_{k}": v for k, v in hitl.items()} | {"PYTHONFAULTHANDLER": "1"}
    with (logs / f"{module}.log").open("wb") as log:  # the child keeps its own descriptor
        cmd = [sys.executable, "-m", module]
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def produce_with_raw_header_name(bootstrap: str, prefix: str, recs: list[Rec]) -> None:
    """A header name that is not UTF-8: the protocol says it is a string, but nothing checks.
    confluent-kafka cannot write one; aiokafka's pure-Python record builder can."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer import message_accumulator
    from aiokafka.producer import producer as aio
    from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy as Builder

    class RawName(str):
        def encode(self, *_: Any, **__: Any) -> bytes:
            return b"x-\xff\xfe"

    async def send() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as p:
            for rec in recs:
                raw = [(RawName("x"), b"1")]
                sent = await p.send_and_wait(prefix + rec.topic, rec.value, rec.key, headers=raw)
                rec.offset = sent.offset

    with (
        mock.patch.object(message_accumulator, "DefaultRecordBatchBuilder", Builder),
        mock.patch.object(aio, "DefaultRecordBatchBuilder", Builder),
    ):
        asyncio.run(send())


class Outputs:
    """Every committed record of the pipeline's outputs, read from the start as they arrive."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix, self.got = prefix, {name: list[bytes]() for name in OUTPUTS}
        conf = {"bootstrap.servers": bootstrap, "group.id": f"r-{prefix}"}
        self.consumer = Consumer(conf | {"isolation.level": "read_committed"})
        self.parts = [TopicPartition(prefix + name, 0, OFFSET_BEGINNING) for name in OUTPUTS]
        self.consumer.assign(self.parts)

    def poll(self) -> None:
        for msg in self.consumer.consume(1000, 0.5):
            self.got[(msg.topic() or "")[len(self.prefix) :]].append(msg.value() or b"")

    def count(self, *names: str) -> int:
        return sum(len(self.got[name]) for name in names)

    def at_end(self) -> bool:
        ends = [self.consumer.get_watermark_offsets(tp, 5, cached=False)[1] for tp in self.parts]
        return all(tp.offset >= ends.pop(0) for tp in self.consumer.position(self.parts))


def test_poison_goes_to_the_dlq_and_the_valid_stream_is_routed(
    settings: ServiceSettings,
    topics: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signer: Signer,
) -> None:
    started = time.monotonic()
    procs = {m: start(m, settings, tmp_path) for m in ("scorer", "router", "feedback")}
    out = Outputs(kafka_bootstrap, topics)
    try:
        bad = [r for t, n in BAD.items() for c in CATEGORIES for r in sample(bad_record(t, c), n)]
        drafts = sample(valid_draft(), VALID_DRAFTS)
        decisions = [Rec("decisions", "valid", json.dumps(base("decisions")).encode(), None, [], ())
                     for _ in range(VALID_DECISIONS)]  # fmt: skip
        stream = [*bad, *drafts, *decisions]
        for rec in stream:  # review-api signs what it writes, bad or not (forgeries: test_router)
            if rec.topic == "decisions":
                rec.headers = signer.sign("decisions", rec.key, rec.value, rec.headers)
        random.Random(len(stream)).shuffle(stream)
        p = make_producer(settings)
        for rec in stream:
            done = partial(lambda rec, err, msg: setattr(rec, "offset", msg.offset()), rec)
            p.produce(topics + rec.topic, rec.value, rec.key, headers=rec.headers, on_delivery=done)
            p.poll(0)
        assert p.flush(30) == 0 and all(rec.offset >= 0 for rec in stream)
        bodies = [(t, json.dumps(base(t)).encode()) for t in MODELS] + [("drafts", b"{nope")]
        raw = [Rec(t, "header_name", v, b"k", [], ("schema", "invalid_json")) for t, v in bodies]
        produce_with_raw_header_name(kafka_bootstrap, topics, raw)
        bad += raw

        # Until each output holds what it must, then to its end (where a duplicate would be).
        expected = Counter((r.topic, s, r.offset) for r in bad for s in READERS[r.topic])
        dlqs = [f"{t}.dlq" for t in MODELS]
        deadline = started + DEADLINE
        while time.monotonic() < deadline and all(q.poll() is None for q in procs.values()):
            out.poll()
            if (
                out.count("auto-approved", "needs-review") >= len(drafts)
                and out.count("retraining-feedback") >= len(decisions)
                and out.count(*dlqs) >= expected.total()
                and out.at_end()
            ):
                break

        for module, proc in procs.items():  # the pid started is the pid running: no restart
            log = (tmp_path / f"{module}.log").read_text(errors="replace")
            assert proc.poll() is None, f"{module} exited {proc.returncode}:\n{log[-3000:]}"
            assert "Traceback" not in log and "Fatal Python" not in log, f"{module}:\n{log[-3000:]}"
        # Not `decode`: a letter holds its record, so it may be over the limit of an event.
        letters = [hs.DeadLetter.model_validate_json(v) for name in dlqs for v in out.got[name]]
        lettered = Counter((x.original_topic, x.service, x.original_offset) for x in letters)
        by_place = {(r.topic, r.offset): r for r in bad}
        missing = [by_place[(t, o)] for t, _, o in expected - lettered]
        assert not missing, [(r.category, r.value and r.value[:300], r.headers) for r in missing]
        assert lettered == expected, f"letters for no bad record, or twice: {lettered - expected}"
        for letter in letters:
            rec = by_place[(letter.original_topic, letter.original_offset)]
            assert letter.error.kind in rec.kinds and letter.error.message, (rec, letter.error)
            copy = (letter.original_key_b64, letter.original_value_b64)
            assert copy == (b64(rec.key), b64(rec.value)) or (
                copy == (None, None) and "not kept" in letter.error.message
            )

        names = ("auto-approved", "needs-review")
        routed = Counter(
            decode(hs.RoutedDraft, v).draft.draft_id for n in names for v in out.got[n]
        )
        valid_ids = Counter(decode(hs.Draft, r.value).draft_id for r in drafts)
        assert routed == valid_ids, f"stray: {routed - valid_ids}, missing: {valid_ids - routed}"
        feedback = out.got["retraining-feedback"]
        learned = Counter(decode(hs.FeedbackExample, v).draft_id for v in feedback)
        assert learned == Counter(json.loads(r.value or b"")["draft_id"] for r in decisions)
        tried = Counter(f"{r.topic}/{r.category}" for r in bad)
        with capsys.disabled():
            sys.stdout.write(
                f"\npoison: bad records tried {len(bad)}: {dict(sorted(tried.items()))}\n"
                f"poison: dead letters {lettered.total()} (one per reading service: "
                f"{expected.total()}), valid drafts {len(drafts)} routed {routed.total()}, "
                f"valid decisions {len(decisions)} examples {learned.total()}, "
                f"{time.monotonic() - started:.0f} s\n"
            )
    finally:
        out.consumer.close()
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
