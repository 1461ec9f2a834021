"""Database plumbing: engine, schema, and the few queries that need dialect care."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from review_api.db import ApiKey, AuditEntry, Item, Outbox, Review, Reviewer
from review_api.domain import PRIORITY_RANK, Principal, Scope
from review_api.metrics import CLAIMS

Q = TypeVar("Q", bound=Select[Any])
log = logging.getLogger(__name__)
# PostgreSQL answers, and says no for good: bad credentials (class 28) or no such database.
REFUSED_FOR_GOOD = ("28", "3D000")

API_KEY_PREFIX = "hitl_"


def make_engine(url: str) -> AsyncEngine:
    # hide_parameters: a failed statement's error (logged with its traceback) shows the SQL but
    # not the values, which are draft text, edits, notes and key hashes.
    if url.startswith("sqlite"):
        # One writer at a time; wait for the lock rather than fail under concurrent reviewers.
        return create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    return create_async_engine(
        url, pool_size=20, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    """Bring the database to the current schema with the Alembic migrations."""
    from review_api.migrate import upgrade_async

    await upgrade_async(engine.url.render_as_string(hide_password=False))


class DatabaseUnavailable(RuntimeError):
    """The database did not accept a connection within the start-up wait."""


def unreachable(exc: BaseException) -> bool:
    """Is this error the database being away (worth waiting for), not a wrong setting or a
    failing migration? A refused or reset connection, or PostgreSQL starting or shutting down
    (SQLSTATE class 08, 57P01-57P03)."""
    if isinstance(exc, OSError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = getattr(exc, "orig", None)
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if sqlstate.startswith(REFUSED_FOR_GOOD):
        return False
    return (
        exc.connection_invalidated
        or isinstance(orig, OSError)
        or sqlstate.startswith(("08", "57P01", "57P02", "57P03"))
    )


async def create_schema_when_up(engine: AsyncEngine, *, wait_seconds: float) -> None:
    """`create_schema`, once the database accepts connections. A review-api (re)started while
    PostgreSQL restarts waits for it instead of exiting at once into a restart back-off. The
    migration is retried too when the database goes away under it (a server that answered the
    first connection and then stopped: seen in the chaos suite); Alembic runs it in one
    transaction on PostgreSQL, so a retry starts clean. Any other error is raised as it is."""
    deadline = time.monotonic() + wait_seconds
    warned = False
    while True:
        try:
            await create_schema(engine)
            return
        except (OSError, DBAPIError) as exc:
            if not unreachable(exc):
                raise  # waiting would not change the answer
            if time.monotonic() >= deadline:
                raise DatabaseUnavailable(
                    f"the database at HITL_DATABASE_URL did not accept a connection within "
                    f"{wait_seconds:g} s ({type(exc).__name__}); check that it runs and that the "
                    "URL's host, port and credentials are right, or wait longer with "
                    "HITL_DATABASE_START_SECONDS"
                ) from None
            if not warned:
                log.warning(
                    "database not reachable yet; waiting for it",
                    extra={"fields": {"wait_seconds": wait_seconds,
                                      "reason": type(exc).__name__}},
                )  # fmt: skip
                warned = True
            await asyncio.sleep(1.0)  # retry pacing between connection attempts


async def insert_item_if_absent(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Idempotent ingest: the same draft_id twice is one item. True when it was new."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Item).values(**values).on_conflict_do_nothing(index_elements=["draft_id"])
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def in_scope(query: Q, scope: Scope) -> Q:
    """Only the items `scope` allows (domain.Scope, the rule's one home), as SQL."""
    query = query.where(Item.tier.in_(scope.tiers))
    if scope.content_types is not None:  # empty: IN () matches nothing, as the rule says
        query = query.where(Item.content_type.in_(sorted(scope.content_types)))
    return query


async def claim_candidates(
    session: AsyncSession,
    *,
    scope: Scope,
    now: datetime,
    limit: int,
    exclude_reviewed_by: str,
) -> list[Item]:
    """Unclaimed (or lease-expired) undecided items in `scope`, most urgent first, that this
    reviewer has not already given a verdict on (two-approval items need independent reviewers)."""
    query = (
        select(Item)
        .where(Item.status == "queued")
        .where((Item.lease_expires_at.is_(None)) | (Item.lease_expires_at <= now))
        .where(
            ~exists().where(
                Review.draft_id == Item.draft_id, Review.reviewer_id == exclude_reviewed_by
            )
        )
        .order_by(Item.priority_rank, Item.due_at, Item.draft_id)
        .limit(limit)
    )
    return list((await session.execute(skip_locked(in_scope(query, scope), session))).scalars())


async def take_lease(
    session: AsyncSession, item: Item, *, holder: str, until: datetime, now: datetime
) -> bool:
    """Compare-and-set on the item's version: two reviewers can never both win."""
    result = await session.execute(
        update(Item)
        .where(Item.draft_id == item.draft_id, Item.version == item.version)
        .values(
            lease_holder=holder, lease_expires_at=until, claimed_at=now, version=item.version + 1
        )
        .execution_options(synchronize_session=False)
    )
    won = bool(result.rowcount)  # type: ignore[attr-defined]
    if won:
        CLAIMS.inc()
    return won


async def append_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    now: datetime,
    draft_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(at=now, actor=actor, action=action, draft_id=draft_id, detail=detail or {})
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_query(key: str) -> Select[Reviewer]:
    """The active reviewer holding this unrevoked key, found by the key's SHA-256 digest.

    No stored secret is compared with the presented one character by character: the database
    looks up the digest in an index, and the digest of a guess shares nothing with the digest of
    a key that has the same first characters, so how long the lookup takes says nothing about
    how much of a key a guess got right (no `hmac.compare_digest` is needed; there is no `==` on
    secrets in Python either). Keys are 256 random bits, so a fast hash is enough to store them."""
    return (
        select(Reviewer)
        .join(ApiKey, ApiKey.reviewer_id == Reviewer.id)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
        .where(Reviewer.active.is_(True))
    )


def new_api_key() -> str:
    # 256 random bits: a fast hash is enough to store it, unlike a password.
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def principal_for_key(session: AsyncSession, key: str) -> Principal | None:
    row = (await session.execute(api_key_query(key))).scalar_one_or_none()
    return None if row is None else _principal(row)


async def principal_for_reviewer(session: AsyncSession, reviewer_id: str) -> Principal | None:
    row = await session.get(Reviewer, reviewer_id)
    return None if row is None or not row.active else _principal(row)


def _principal(row: Reviewer) -> Principal:
    types = frozenset(row.content_types) if row.content_types is not None else None
    return Principal(row.id, row.role, row.tier, types)  # type: ignore[arg-type]  # checked on write


async def add_outbox(
    session: AsyncSession, *, topic: str, key: str, payload: str, now: datetime
) -> None:
    session.add(Outbox(topic=topic, key=key, payload=payload, created_at=now))


def on_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def skip_locked(query: Q, session: AsyncSession) -> Q:
    """On PostgreSQL, lock the selected rows and pass over rows another replica holds, so
    replicas share the work instead of doing it twice. SQLite has one writer at a time anyway
    (and one replica: the Helm chart refuses more)."""
    if on_postgres(session):
        return query.with_for_update(skip_locked=True)
    return query


async def unsent_outbox(session: AsyncSession, limit: int) -> list[Outbox]:
    """Unsent rows, locked for the caller's transaction: another replica's relay skips them."""
    query = select(Outbox).where(Outbox.sent_at.is_(None)).order_by(Outbox.id).limit(limit)
    return list((await session.execute(skip_locked(query, session))).scalars())


def priority_rank(priority: str) -> int:
    return PRIORITY_RANK.get(priority, 2)
