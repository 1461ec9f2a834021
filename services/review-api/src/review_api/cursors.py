"""The queue's page cursor: where the last page ended, as (priority rank, due_at, draft_id).

Opaque to clients (base64 of the three parts), but not trusted: a client can send anything, so
`decode` checks that each part is one `encode` could have written before it reaches SQL. A huge
rank overflowed SQLite's integer (a 500); a NUL in the draft id failed PostgreSQL's text
encoding (taken for an outage: a 503). Both are now a 422 saying to start without a cursor.
"""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import TypeAdapter

from hitl_schemas.common import Identifier
from review_api.domain import PRIORITY_RANK, Denied

_DRAFT_ID: TypeAdapter[str] = TypeAdapter(Identifier)
_RANKS = frozenset(PRIORITY_RANK.values())
NOT_OURS = "cursor: not a cursor this API returned; start without one"


def encode(rank: int, due: datetime | None, draft_id: str) -> str:
    raw = f"{rank}|{due.isoformat() if due else ''}|{draft_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode(cursor: str) -> tuple[int, datetime, str]:
    """The parts of a cursor `encode` made; Denied(422) for anything else."""
    try:
        rank, due, draft_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 2)
        parsed = int(rank), datetime.fromisoformat(due), _DRAFT_ID.validate_python(draft_id)
    except ValueError:  # binascii.Error, UnicodeDecodeError and ValidationError are ValueErrors
        raise Denied(422, NOT_OURS) from None
    if parsed[0] not in _RANKS or parsed[1].tzinfo is None:
        raise Denied(422, NOT_OURS)
    return parsed
