"""CloudEvents Kafka protocol binding, binary mode: event attributes as `ce_*` headers.

Any consumer (kcat, a Java or Go client) can route on `ce_type` without parsing the body.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

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


def source_of(service_name: str) -> str:
    return f"/hitl-gate/{service_name}"
