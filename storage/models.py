"""The tables. This module and the Alembic migrations are the one description of the schema.

Personal data never sits here in clear: channel addresses, reporter identities, ID numbers and bank
accounts are stored as a keyed hash (to find them) plus an encrypted copy (to use them); query
passwords only as a slow salted hash. Keys live in the deployment's settings, not in the database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _json(nullable: bool = False) -> Any:
    return Field(default=None if nullable else {}, sa_column=Column(JSON, nullable=nullable))


def _when(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Conversation(SQLModel, table=True):
    """One citizen on one channel of one bot, with the dialog state that lets any process continue it."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("bot_id", "channel", "address_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    address_hash: str = Field(max_length=64)
    address_enc: str = Field(sa_type=Text)
    language: str | None = Field(default=None, max_length=16)
    state: dict[str, Any] = _json()
    mode: str = Field(default="bot", max_length=16)  # "bot" or "handoff"
    created_at: datetime = _when()
    updated_at: datetime = _when()
    last_inbound_at: datetime | None = _when(nullable=True)


class InboundMessage(SQLModel, table=True):
    """Every message a platform delivered; the unique key turns a provider's retry into a no-op."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("bot_id", "channel", "provider_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    provider_message_id: str = Field(max_length=128)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    text: str = Field(default="", sa_type=Text)
    attachments: list[dict[str, Any]] = Field(default=[], sa_column=Column(JSON, nullable=False))
    received_at: datetime = _when()


class OutboxMessage(SQLModel, table=True):
    """A message owed to a citizen. Inline replies are recorded here too, already sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # A bot channel's sends in the last second, for its send-rate cap (core.send_rate).
        Index("ix_outbox_send_window", "channel", "bot_id", "attempted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inbound_messages.id", index=True)
    address_enc: str = Field(sa_type=Text)
    kind: str = Field(default="reply", max_length=16)  # reply, staff, notice, survey
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=16)
    # pending → sending → sent → delivered | failed | undeliverable
    inline: bool = False
    attempts: int = 0
    next_attempt_at: datetime | None = _when(nullable=True)
    lease_until: datetime | None = _when(nullable=True)
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()
    attempted_at: datetime | None = _when(nullable=True)  # when the platform last answered a send of it


class Case(SQLModel, table=True):
    """A petition, tip, suggestion or question, from submission to closing."""

    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=16, unique=True)
    bot_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)  # complaint, tip, suggestion, question
    status: str = Field(default="submitted", max_length=16, index=True)
    department: str | None = Field(default=None, max_length=128, index=True)
    description: str = Field(sa_type=Text)
    attachments: list[dict[str, Any]] = Field(default=[], sa_column=Column(JSON, nullable=False))
    password_hash: str = Field(max_length=256)
    anonymous: bool = False  # a tip whose reporter chose full anonymity: no contact kept at all
    reporter_enc: str | None = Field(default=None, sa_type=Text)  # name and phone, when left
    contact_enc: str | None = Field(default=None, sa_type=Text)  # channel address for notices
    sender_hash: str | None = Field(default=None, max_length=64, index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id")
    subject: dict[str, Any] | None = _json(nullable=True)  # e.g. the subsidy payment complained about
    primary_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    due_on: date
    created_at: datetime = _when()
    updated_at: datetime = _when()
    closed_at: datetime | None = _when(nullable=True)


class CaseEvent(SQLModel, table=True):
    """The case's timeline. Rows are only ever added."""

    __tablename__ = "case_events"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    at: datetime = _when()
    actor: str = Field(max_length=128)  # "citizen", "system", "staff:<username>"
    action: str = Field(max_length=32)
    detail: dict[str, Any] = _json()
    public_text: str | None = Field(default=None, sa_type=Text)  # what the citizen sees (official reply)


class Throttle(SQLModel, table=True):
    """Failure counters for guessable secrets, keyed by a hash so unknown keys cost the same as known."""

    __tablename__ = "throttles"

    key: str = Field(primary_key=True, max_length=96)
    failures: int = 0
    window_started_at: datetime = _when()
    locked_until: datetime | None = _when(nullable=True)


class SubsidyRecord(SQLModel, table=True):
    """One payment of a benefit programme to a person or household."""

    __tablename__ = "subsidy_records"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, index=True)
    id_enc: str = Field(sa_type=Text)
    name: str = Field(max_length=64)
    programme: str = Field(max_length=128)
    year: int
    standard: str = Field(max_length=128)
    amount_cents: int
    paid_on: date | None = None
    method: str = Field(max_length=64)
    status: str = Field(max_length=32)
    account_masked: str | None = Field(default=None, max_length=64)
    account_enc: str | None = Field(default=None, sa_type=Text)
    town: str | None = Field(default=None, max_length=128)
    department: str | None = Field(default=None, max_length=128)
    phone_enc: str | None = Field(default=None, sa_type=Text)
    row_hash: str = Field(max_length=64, unique=True)  # importing the same row twice adds nothing
    imported_at: datetime = _when()


class Survey(SQLModel, table=True):
    """A satisfaction question sent to a citizen, waiting for a 1–4 answer."""

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_open", "bot_id", "channel", "address_hash", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    address_hash: str = Field(max_length=64)
    address_enc: str = Field(sa_type=Text)
    service: str = Field(max_length=128)
    window: str | None = Field(default=None, max_length=64)
    staff_name: str | None = Field(default=None, max_length=64)
    department: str = Field(max_length=128)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    served_at: datetime | None = _when(nullable=True)
    sent_at: datetime = _when()
    expires_at: datetime = _when()
    status: str = Field(default="pending", max_length=16)  # pending, answered, expired


class Rating(SQLModel, table=True):
    """A grade 1 满意, 2 基本满意, 3 不满意, 4 很差, for a department, window and staff member."""

    __tablename__ = "ratings"

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    survey_id: int | None = Field(default=None, foreign_key="surveys.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    department: str = Field(max_length=128, index=True)
    window: str | None = Field(default=None, max_length=64)
    staff_name: str | None = Field(default=None, max_length=64)
    grade: int
    reason: str | None = Field(default=None, sa_type=Text)
    channel: str = Field(max_length=32)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class DepartmentWarning(SQLModel, table=True):
    """A yellow or red card for a department: a low rating, a case near or past its deadline."""

    __tablename__ = "warnings"

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    department: str = Field(max_length=128, index=True)
    kind: str = Field(max_length=32)  # low_rating, overdue
    level: str = Field(max_length=16)  # yellow, red
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    rating_id: int | None = Field(default=None, foreign_key="ratings.id")
    detail: dict[str, Any] = _json()
    created_at: datetime = _when()
    resolved_at: datetime | None = _when(nullable=True)


class Handoff(SQLModel, table=True):
    """A conversation waiting for, or being answered by, a person."""

    __tablename__ = "handoffs"

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    status: str = Field(default="waiting", max_length=16, index=True)  # waiting, claimed, closed
    reason: str = Field(max_length=32)  # asked, not_understood
    department: str | None = Field(default=None, max_length=128)
    opened_at: datetime = _when()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)
    closed_by: str | None = Field(default=None, max_length=64)


class Staff(SQLModel, table=True):
    """A person who answers citizens: staff of a department, a supervisor or an admin."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=128)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)  # admin, supervisor, staff
    department: str | None = Field(default=None, max_length=128)
    active: bool = True
    created_at: datetime = _when()


class AuditEvent(SQLModel, table=True):
    """Who did what, when and from where, for every staff action."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = _json()
    source: str = Field(default="", max_length=128)


class OptOut(SQLModel, table=True):
    """An address that asked for no more messages it did not ask for (SMS STOP / 退订), per bot and channel.

    Only the keyed address hash is kept: enough to check an outgoing message, useless to anyone reading
    the table. The row stays after an opt-in (with `opted_out` false) so that a provider's late retry of
    an earlier keyword message is recognised and changes nothing.
    """

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("bot_id", "channel", "address_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    address_hash: str = Field(max_length=64)
    opted_out: bool = True
    source: str = Field(max_length=16)  # "keyword" (the citizen said so), "provider" (the platform refused)
    # [provider message id, "out" | "in"] of the latest keyword messages, oldest first.
    keyword_messages: list[list[str]] = Field(default=[], sa_column=Column(JSON, nullable=False))
    changed_at: datetime = _when()
    updated_at: datetime = _when()
