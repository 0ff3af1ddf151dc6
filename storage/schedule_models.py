"""Tables of the deadline rules and the satisfaction-survey campaigns.

Each table exists to make a repeated run harmless: a reminder or a warning is a row with a unique key per
(case, stage, kind), so a restarted or second worker cannot raise it again; a campaign row has a unique
keyed hash per (bot, spreadsheet row), so sending the same file twice asks nobody twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class DeadlineMark(SQLModel, table=True):
    """A reminder, yellow or red warning already raised for one stage of one case."""

    __tablename__ = "deadline_marks"
    __table_args__ = (UniqueConstraint("case_id", "stage", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    case_id: int = Field(foreign_key="cases.id", index=True)
    stage: str = Field(max_length=16)  # accept, answer
    kind: str = Field(max_length=16)  # reminder, yellow, red
    due_on: date
    warning_id: int | None = Field(default=None, foreign_key="warnings.id")
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class SchedulerLease(SQLModel, table=True):
    """Which worker runs a periodic job right now, so several workers take turns instead of racing."""

    __tablename__ = "scheduler_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_result: dict[str, Any] = Field(default={}, sa_column=Column(JSON, nullable=False))


class SurveyCampaign(SQLModel, table=True):
    """One spreadsheet of served citizens sent a survey, with the summary staff saw at the end."""

    __tablename__ = "survey_campaigns"

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    source: str = Field(max_length=256)  # the file name, for staff to recognise
    actor: str = Field(max_length=128)  # "cli", "staff:<username>"
    summary: dict[str, Any] = Field(default={}, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class SurveyCampaignRow(SQLModel, table=True):
    """A spreadsheet row that became a survey; the keyed hash holds no phone number in clear."""

    __tablename__ = "survey_campaign_rows"
    __table_args__ = (UniqueConstraint("bot_id", "row_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=64)
    campaign_id: int = Field(foreign_key="survey_campaigns.id", index=True)
    line: int
    row_hash: str = Field(max_length=64)
    survey_id: int = Field(foreign_key="surveys.id")
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
