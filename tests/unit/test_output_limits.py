"""Bounded outputs (issue 15): span caps, size limits per event type, the check before
producing, and the one step that turns an output too large into a dead letter of its input."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from confluent_kafka import Message

from hitl_runtime.dlq import DeadLetterPublisher, publish_or_dead_letter
from hitl_runtime.kafka import EventPublisher
from hitl_runtime.limits import (
    OutputTooLarge,
    cap_spans,
    event_bytes,
    fit,
    max_event_bytes,
    record_bytes,
    without_spans,
)
from hitl_runtime.serde import EventValidationError, decode, encode
from hitl_runtime.settings import ServiceSettings
from hitl_schemas import (
    DeadLetter,
    Decision,
    Draft,
    DraftContext,
    Event,
    FeedbackExample,
    ModelVersion,
    RoutedDraft,
    Score,
    ScoredDraft,
    Signal,
    SourceDocument,
    Span,
    examples,
)

MIB = 1_048_576


def spans(n: int, label: str = "amount 1 not in the sources") -> list[Span]:
    return [Span(start=3 * i, end=3 * i + 2, label=label) for i in range(n)]


def score_with(**counts: int) -> Score:
    signals = [Signal(name=name, value=0.5, spans=spans(n)) for name, n in counts.items()]
    return examples.score(signals=signals)


@pytest.mark.parametrize(
    ("counts", "keep", "kept", "omitted"),
    [
        ({"grounding": 0}, 50, {"grounding": 0}, {"grounding": 0}),
        ({"grounding": 50}, 50, {"grounding": 50}, {"grounding": 0}),
        ({"grounding": 51}, 50, {"grounding": 50}, {"grounding": 1}),
        ({"grounding": 16_667, "pii": 3}, 50, {"grounding": 50, "pii": 3},
         {"grounding": 16_617, "pii": 0}),
        ({"grounding": 7, "pii": 3}, 0, {"grounding": 0, "pii": 0}, {"grounding": 7, "pii": 3}),
    ],
)  # fmt: skip
def test_cap_spans_keeps_the_first_and_counts_the_rest(
    counts: dict[str, int], keep: int, kept: dict[str, int], omitted: dict[str, int]
) -> None:
    capped = cap_spans(score_with(**counts), keep)
    assert {s.name: len(s.spans) for s in capped.signals} == kept
    assert {s.name: s.spans_omitted for s in capped.signals} == omitted
    for signal in capped.signals:  # the first by position: a reviewer reads from the top
        assert signal.spans == spans(counts[signal.name])[: kept[signal.name]]
        assert signal.value == 0.5  # the value still counts every span


def test_cap_spans_returns_the_same_score_when_nothing_is_cut_and_adds_to_earlier_counts() -> None:
    score = score_with(grounding=3)
    assert cap_spans(score, 50) is score
    twice = cap_spans(cap_spans(score_with(grounding=10), 5), 2)
    assert [(len(s.spans), s.spans_omitted) for s in twice.signals] == [(2, 8)]


def test_spans_omitted_is_written_only_when_spans_were_left_out() -> None:
    whole = Signal(name="pii", value=0.0, spans=spans(1))
    assert "spans_omitted" not in whole.model_dump_json()  # what readers of 0.x still accept
    cut = Signal(name="pii", value=0.0, spans_omitted=4)
    assert '"spans_omitted":4' in cut.model_dump_json()
    assert Signal.model_validate_json(cut.model_dump_json()) == cut
    scored = examples.scored_draft()
    assert decode(ScoredDraft, encode(scored)) == scored


def carriers(score: Score) -> list[Event]:
    draft = examples.draft()
    routed = examples.routed_draft(draft=draft, score=score)
    decision = examples.decision(draft=draft, score=score)
    return [ScoredDraft(draft=draft, score=score), routed, decision,
            examples.feedback_example(draft=draft, score=score)]  # fmt: skip


@pytest.mark.parametrize("index", range(4), ids=["scored", "routed", "decision", "feedback"])
def test_without_spans_drops_every_span_list_to_a_count_and_keeps_the_rest(index: int) -> None:
    event = carriers(score_with(grounding=12, pii=2))[index]
    smaller = without_spans(event)
    assert type(smaller) is type(event)
    score = smaller.score  # type: ignore[attr-defined]
    assert [(s.spans, s.spans_omitted) for s in score.signals] == [([], 12), ([], 2)]
    assert smaller.model_dump(exclude={"score"}) == event.model_dump(exclude={"score"})


def test_without_spans_leaves_events_with_nothing_to_drop_alone() -> None:
    draft = examples.draft()
    assert without_spans(draft) is draft
    plain = ScoredDraft(draft=draft, score=score_with(grounding=0))
    assert without_spans(plain) is plain


@pytest.mark.parametrize(
    ("model", "max_message_bytes", "limit"),
    [
        (Draft, MIB, MIB),
        (ModelVersion, MIB, MIB),
        (ScoredDraft, MIB, 2 * MIB - 16_384),
        (RoutedDraft, MIB, 2 * MIB - 16_384),
        (Decision, MIB, 2 * MIB - 16_384),
        (FeedbackExample, MIB, 2 * MIB - 16_384),
        (DeadLetter, MIB, 2 * MIB - 16_384),
        (ScoredDraft, 4096, MIB - 16_384),  # the record limit is never under 1 MiB
        (Draft, 4096, 4096),
    ],
)
def test_an_event_that_carries_a_draft_may_be_larger_than_a_draft(
    model: type[Event], max_message_bytes: int, limit: int
) -> None:
    assert event_bytes(model, max_message_bytes) == limit
    assert record_bytes(max_message_bytes) >= limit + 16_384
    settings = ServiceSettings(max_message_bytes=max_message_bytes)
    assert max_event_bytes(settings, model) == limit


def big_draft(source_chars: int = 330_000) -> Draft:
    """The issue's draft: 50,000 characters of text, a source of 3-byte characters."""
    source = SourceDocument(source_id="s", text="€" * source_chars)
    return examples.draft(text=("$1 " * 17_000)[:50_000], context=DraftContext(sources=[source]))


def test_decode_holds_a_draft_to_the_event_limit_and_a_carrier_to_its_own() -> None:
    draft = big_draft()
    assert 1_000_000 < len(encode(draft)) < MIB
    scored = ScoredDraft(draft=draft, score=score_with(grounding=2_000))
    assert MIB < len(encode(scored)) < 2 * MIB - 16_384
    assert decode(ScoredDraft, encode(scored)) == scored  # was refused as oversized
    with pytest.raises(EventValidationError, match="over the limit of 1048576 for a Draft"):
        decode(Draft, encode(draft)[:-1] + b',"x":"' + b"y" * 10_000 + b'"}')
    huge = ScoredDraft(draft=draft, score=score_with(grounding=20_000))
    with pytest.raises(EventValidationError, match="limit of 2080768 for a ScoredDraft"):
        decode(ScoredDraft, encode(huge))


def test_fit_keeps_what_fits_shrinks_what_can_be_and_gives_up_on_the_rest() -> None:
    small = ScoredDraft(draft=examples.draft(), score=score_with(grounding=3))
    assert fit(small, encode(small), 100_000) == (small, encode(small))
    many = ScoredDraft(draft=examples.draft(), score=score_with(grounding=3_000))
    fitted = fit(many, encode(many), 100_000)
    assert fitted is not None
    assert fitted[0].score.signals[0].spans_omitted == 3_000
    assert fitted[1] == encode(fitted[0]) and len(fitted[1]) <= 100_000
    assert fit(many, encode(many), 1_000) is None
    assert fit(small.draft, encode(small.draft), 100) is None


class FakeProducer:
    """Stands in for confluent-kafka's Producer (no broker in unit tests): keeps what it got."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def produce(self, topic: str, **record: Any) -> None:
        self.records.append({"topic": topic} | record)

    def poll(self, _timeout: float) -> int:
        return 0


def publisher(max_message_bytes: int = MIB) -> tuple[FakeProducer, EventPublisher]:
    settings = ServiceSettings(max_message_bytes=max_message_bytes, service_name="scorer")
    producer = FakeProducer()
    return producer, EventPublisher(producer, settings)  # type: ignore[arg-type]


def test_publish_measures_before_producing_and_refuses_what_would_pass_the_limit() -> None:
    producer, events = publisher()
    scored = ScoredDraft(draft=big_draft(), score=score_with(grounding=16_667))
    size = len(encode(scored))
    assert size > 2 * MIB  # the 2.13 MB: librdkafka refused it, the scorer crashed
    with pytest.raises(OutputTooLarge) as raised:
        events.publish("scored", "d-1", scored)
    assert (raised.value.size, raised.value.limit) == (size, 2 * MIB - 16_384)
    assert f"{size} bytes, over the limit of 2080768" in str(raised.value)
    assert producer.records == []
    events.publish("scored", "d-1", without_spans(scored))  # 1.04 MB: it goes
    assert len(producer.records) == 1


def draft_record(draft: Draft, offset: int = 7) -> Message:
    return Message(topic="drafts", partition=0, offset=offset, key=draft.draft_id.encode(),
                   value=encode(draft), headers=[])  # fmt: skip


def test_publish_or_dead_letter_publishes_a_shrunk_output_when_that_fits() -> None:
    producer, events = publisher()
    dlq = DeadLetterPublisher(events, service="scorer", topic_prefix="")
    draft = big_draft()
    scored = ScoredDraft(draft=draft, score=score_with(grounding=16_667, pii=2))
    out = publish_or_dead_letter(draft_record(draft), "scored", "d-1", scored,
                                 publisher=events, dead_letters=dlq)  # fmt: skip
    assert out is not None
    assert [(len(s.spans), s.spans_omitted) for s in out.score.signals] == [(0, 16_667), (0, 2)]
    [record] = producer.records
    assert record["topic"] == "scored" and record["value"] == encode(out)
    assert len(record["value"]) < 2 * MIB - 16_384


def test_an_output_that_cannot_fit_dead_letters_its_input_with_the_sizes() -> None:
    producer, events = publisher(max_message_bytes=4096)  # outputs up to 1 MiB - 16 KiB
    dlq = DeadLetterPublisher(events, service="scorer", topic_prefix="")
    draft = examples.draft(context=DraftContext(prompt="\x01" * 180_000))  # 6 bytes each in JSON
    scored = ScoredDraft(draft=draft, score=score_with(grounding=40))
    msg = draft_record(draft)
    assert publish_or_dead_letter(msg, "scored", "d-1", scored,
                                  publisher=events, dead_letters=dlq) is None  # fmt: skip
    [record] = producer.records
    assert record["topic"] == "drafts.dlq"
    letter = DeadLetter.model_validate_json(record["value"])
    assert letter.error.kind == "output_too_large"
    shrunk = len(encode(without_spans(scored)))
    assert f"ScoredDraft for scored would be {shrunk} bytes" in letter.error.message
    assert f"input {len(msg.value() or b'')} bytes" in letter.error.message
    assert letter.original_offset == 7
    # Its base64 copy would not fit a letter either: the letter says where the input stays.
    assert letter.original_value_b64 is None
    assert "it stays at drafts partition 0 offset 7" in letter.error.message
    assert len(record["value"]) <= max_event_bytes(
        ServiceSettings(max_message_bytes=4096), DeadLetter
    )


def test_a_dead_letter_keeps_a_copy_of_an_input_that_fits_one() -> None:
    producer, events = publisher()
    dlq = DeadLetterPublisher(events, service="router", topic_prefix="")
    routed = examples.routed_draft(
        draft=examples.draft(context=DraftContext(prompt="\x01" * 400_000))
    )
    assert len(encode(routed)) > 2 * MIB - 16_384  # a RoutedDraft past the carrier limit
    msg = Message(topic="scored", partition=0, offset=3, key=b"d-1", value=b"{}", headers=[])
    assert publish_or_dead_letter(msg, "needs-review", "d-1", routed,
                                  publisher=events, dead_letters=dlq) is None  # fmt: skip
    [record] = producer.records
    letter = DeadLetter.model_validate_json(record["value"])
    assert (record["topic"], letter.error.kind) == ("scored.dlq", "output_too_large")
    assert base64.b64decode(letter.original_value_b64 or "") == b"{}"


def test_the_dead_letter_of_an_input_too_large_to_copy_is_still_produced() -> None:
    producer, events = publisher()
    draft = big_draft()
    scored = ScoredDraft(draft=draft, score=score_with(grounding=100))
    huge = Message(topic="scored", partition=0, offset=9, key=b"d-1",
                   value=encode(scored) + b" " * 1_000_000, headers=[])  # fmt: skip
    dlq = DeadLetterPublisher(events, service="router", topic_prefix="")
    letter = dlq.send(huge, examples.dead_letter().error)
    assert letter.original_value_b64 is None and "not kept" in letter.error.message
    [record] = producer.records
    assert len(record["value"]) <= max_event_bytes(ServiceSettings(), DeadLetter)
