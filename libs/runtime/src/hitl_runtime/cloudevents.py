"""CloudEvents Kafka protocol binding, binary mode: event attributes as `ce_*` headers.

Any consumer (kcat, a Java or Go client) can route on `ce_type` without parsing the body.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from hitl_runtime.serde import EventValidationError
from hitl_schemas import Event, event_type_of

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = list[tuple[str, str | bytes | None]]


def ce_headers(
    event: Event,
    *,
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Headers:
    """Headers for one event. `source` is the writing service, e.g. `/hitl-gate/scorer`."""
    when = (time or datetime.now(UTC)).astimezone(UTC)
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", (event_id or str(uuid.uuid4())).encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type_of(type(event)).encode()),
        ("ce_time", when.isoformat().replace("+00:00", "Z").encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    return headers


def read_headers(headers: Sequence[tuple[str, str | bytes | None]] | None) -> dict[str, str]:
    """The CloudEvents attributes (and content-type) of a consumed record, decoded."""
    out: dict[str, str] = {}
    for name, value in headers or ():
        if (name.startswith("ce_") or name == "content-type") and value is not None:
            out[name] = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return out


def check_headers(headers: Sequence[tuple[str, str | bytes | None]], model: type[Event]) -> None:
    """Raise EventValidationError when a record's CloudEvents headers are not text, or say it is
    another event type or spec version than its topic carries. Headers are optional (a producer
    writing plain JSON, with kcat say, sends none); a record that contradicts its topic is not."""
    expected = event_type_of(model)
    for name, value in headers:
        if not (name.startswith("ce_") or name == "content-type"):
            continue
        field = f"headers.{name}"
        try:
            text = value.decode() if isinstance(value, bytes) else value
        except UnicodeDecodeError:
            raise EventValidationError("schema", "header value is not UTF-8 text", field) from None
        if text is None:
            raise EventValidationError("schema", "header has no value", field)
        if name == "ce_specversion" and text != SPEC_VERSION:
            raise EventValidationError(
                "unknown_version",
                f"CloudEvents specversion {text[:100]!r}; this build reads {SPEC_VERSION}",
                field,
            )
        if name == "ce_type" and text != expected:
            same_event = text.rpartition(".v")[0] == expected.rpartition(".v")[0]
            raise EventValidationError(
                "unknown_version" if same_event else "schema",
                f"event type {text[:200]!r} on a topic of {expected}",
                field,
            )


def source_of(service_name: str) -> str:
    return f"/hitl-gate/{service_name}"
