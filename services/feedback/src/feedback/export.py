"""Dataset export from `retraining-feedback`, streamed: a month of data never sits in memory.

    python -m feedback export --output data.jsonl [--format jsonl|parquet]
        [--kind labels|preferences] [--since ISO] [--until ISO] [--content-type T]

- labels: one row per decision for classifier training (text, context, verdict, `approved`
  = approved unchanged, `is_error`, score and signals at the time, routing, reason codes).
- preferences: one row per human edit for preference tuning, in the field names the common
  trainers read: `prompt`, `chosen` (the human edit), `rejected` (the AI draft).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import Consumer

from hitl_runtime.kafka import make_consumer
from hitl_runtime.serde import EventValidationError, decode
from hitl_runtime.settings import ServiceSettings
from hitl_runtime.tail import records, snapshot
from hitl_schemas import FeedbackExample, topic

Kind = Literal["labels", "preferences"]
BATCH = 5_000


def label_row(example: FeedbackExample) -> dict[str, Any]:
    draft = example.draft
    return {
        "draft_id": example.draft_id,
        "tenant": example.tenant,
        "content_type": example.content_type,
        "text": draft.text,
        "prompt": draft.context.prompt,
        "customer_message": draft.context.customer_message,
        "verdict": example.verdict,
        "approved": example.verdict == "approve",
        "is_error": example.is_error,
        "reason_codes": example.reason_codes,
        "edit_chars": example.edit_chars,
        "edit_tokens": example.edit_tokens,
        "confidence": example.score.confidence,
        "model_version": example.score.model_version,
        "signals": {s.name: s.value for s in example.score.signals},
        "audit": example.routing.audit,
        "audit_q": example.routing.audit_q,
        "route_reason": example.routing.reason,
        "decided_at": example.decided_at.isoformat(),
    }


def preference_row(example: FeedbackExample) -> dict[str, Any] | None:
    if example.verdict != "edit" or not example.final_text:
        return None
    context = example.draft.context
    prompt = "\n\n".join(p for p in (context.prompt, context.customer_message or "") if p)
    return {
        "prompt": prompt,
        "chosen": example.final_text,
        "rejected": example.draft.text,
        "draft_id": example.draft_id,
        "content_type": example.content_type,
        "reason_codes": example.reason_codes,
        "decided_at": example.decided_at.isoformat(),
    }


def read_examples(
    settings: ServiceSettings,
    *,
    since: datetime | None,
    until: datetime | None,
    content_type: str | None,
    progress: bool = True,
    tail: int | None = None,
) -> Iterator[FeedbackExample]:
    """Every committed example on the topic as it stood at the start, filtered, in order.
    With `tail`, only the last `tail` offsets of each partition: a superset of the newest `tail`
    examples overall (less the few offsets transaction markers take), read without scanning
    months of history."""
    name = topic("retraining-feedback", settings.topic_prefix)
    consumer: Consumer = make_consumer(settings, group_id=f"export-{uuid.uuid4().hex[:8]}")
    try:
        snap = snapshot(consumer, name, tail=tail)
        seen, last_report = 0, time.monotonic()
        for msg in records(consumer, snap):
            seen += 1
            example = _decoded(msg.value(), settings)
            if example is not None and _wanted(example, since, until, content_type):
                yield example
            if progress and time.monotonic() - last_report > 1:
                sys.stderr.write(f"\rexport: {seen}/{snap.total} records read")
                last_report = time.monotonic()
        if progress:
            sys.stderr.write(f"\rexport: {seen}/{snap.total} records read\n")
    finally:
        consumer.close()


def _decoded(value: bytes | None, settings: ServiceSettings) -> FeedbackExample | None:
    try:
        return decode(FeedbackExample, value, settings.limits)
    except EventValidationError:
        return None


def _wanted(
    example: FeedbackExample,
    since: datetime | None,
    until: datetime | None,
    content_type: str | None,
) -> bool:
    if content_type and example.content_type != content_type:
        return False
    if since and example.decided_at < since:
        return False
    return not (until and example.decided_at >= until)


def export(
    examples: Iterator[FeedbackExample],
    output: Path,
    *,
    kind: Kind,
    fmt: Literal["jsonl", "parquet"],
) -> int:
    shape = label_row if kind == "labels" else preference_row
    rows = (row for row in map(shape, examples) if row is not None)
    if fmt == "jsonl":
        count = 0
        with output.open("w", encoding="utf-8") as sink:
            for row in rows:
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count
    return _write_parquet(rows, output)


def _write_parquet(rows: Iterator[dict[str, Any]], output: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: Any = None
    count = 0
    batch: list[dict[str, Any]] = []
    try:
        for row in rows:
            batch.append(_flatten(row))
            if len(batch) >= BATCH:
                writer = _flush(pa, pq, writer, batch, output)
                count += len(batch)
                batch = []
        if batch or writer is None:
            writer = _flush(pa, pq, writer, batch, output)
            count += len(batch)
    finally:
        if writer is not None:
            writer.close()
    return count


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    # Parquet wants one schema: the signals map becomes a JSON string column.
    return {k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()}


def _flush(pa: Any, pq: Any, writer: Any, batch: list[dict[str, Any]], output: Path) -> Any:
    table = pa.Table.from_pylist(batch, schema=writer.schema if writer is not None else None)
    if writer is None:
        writer = pq.ParquetWriter(str(output), table.schema)
    if batch:
        writer.write_table(table)
    return writer
