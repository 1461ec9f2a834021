"""The review store's tables (SQLAlchemy 2). One code path for SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Item(Base):
    """One draft awaiting (or past) human review; `routed` is the RoutedDraft JSON as received."""

    __tablename__ = "items"
    draft_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(32))
    priority_rank: Mapped[int] = mapped_column(Integer)  # 0 urgent .. 3 low, for ordering
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | decided
    due_at: Mapped[datetime]
    received_at: Mapped[datetime]
    routed: Mapped[str] = mapped_column(Text)
    lease_holder: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    escalations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Two-approval types: "first" (no verdict yet), "second" (one blind verdict in), "tiebreak"
    # (the two disagreed; the next verdict, from the tier above, is final).
    stage: Mapped[str] = mapped_column(String(16), default="first")
    sla_breached: Mapped[bool] = mapped_column(default=False)  # past the last tier's deadline
    decided_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_items_queue", "status", "tier", "priority_rank", "due_at"),)


class Review(Base):
    """A reviewer's verdict on an item; `idempotency_key` makes a retried request safe."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("items.draft_id"))
    reviewer_id: Mapped[str] = mapped_column(String(128))
    verdict: Mapped[str] = mapped_column(String(16))
    final_text: Mapped[str | None] = mapped_column(Text, default=None)
    reason_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    # SHA-256 of the request the key came with (domain.request_fingerprint): a replay of the key
    # with another request is refused instead of answered with this one's result.
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    decision_id: Mapped[str | None] = mapped_column(String(64), default=None)  # set when final
    seconds_spent: Mapped[float | None] = mapped_column(default=None)  # claim to verdict
    diff: Mapped[str | None] = mapped_column(Text, default=None)  # unified diff of an edit
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("reviewer_id", "idempotency_key", name="uq_review_idem"),)


class Outbox(Base):
    """Events committed with the decision; the relay publishes them and marks them sent."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)


class AuditEntry(Base):
    """Append-only trail of every claim, release, decision, escalation and admin act."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    draft_id: Mapped[str | None] = mapped_column(String(128), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Reviewer(Base):
    """A person or service using the API. `id` is pseudonymous: it is what decisions carry."""

    __tablename__ = "reviewers"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # reviewer | lead | admin
    tier: Mapped[str] = mapped_column(String(32))
    content_types: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # None: all
    active: Mapped[bool] = mapped_column(default=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("reviewers.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
