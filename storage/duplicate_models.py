"""Tables for finding repeated petitions (一信多投 / 重复信访) and for one-time codes sent by SMS.

The n-gram table is an inverted index: for each open case, the character bigrams of its normalised
text, stamped with a scope (bot, kind, department) and the submission time, so that the cases most
like a new one are found by one indexed GROUP BY instead of comparing against every case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _when(nullable: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable)


class CaseGram(SQLModel, table=True):
    """One character bigram of one open case; removed when the case is no longer open."""

    __tablename__ = "case_ngrams"
    # Covering: a look-up reads each bigram's postings (and their case ids) from the index alone. With
    # case_id left out, each of the up to 13 000 postings a check reads cost a jump into the table.
    __table_args__ = (Index("ix_case_ngrams_postings", "scope", "gram", "created_at", "case_id"),)

    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    gram: str = Field(max_length=8, primary_key=True)
    scope: str = Field(max_length=16)  # short digest of bot, kind and department
    created_at: datetime = _when()


class CasePerson(SQLModel, table=True):
    """A keyed hash naming who submitted a case: the channel address, and a phone number when known.

    A phone number given on WeChat and the same number texting by SMS name the same person, so a
    resubmission is recognised across channels.
    """

    __tablename__ = "case_people"
    __table_args__ = (Index("ix_case_people_person", "person", "created_at"),)

    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    person: str = Field(max_length=64, primary_key=True)
    bot_id: str = Field(max_length=64)
    created_at: datetime = _when()


class OneTimeCode(SQLModel, table=True):
    """A short code sent to a phone before something sensitive is shown; only its keyed hash is kept."""

    __tablename__ = "one_time_codes"

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=16)  # "subsidy"
    owner: str = Field(max_length=96, index=True)  # keyed hash of who asked (the conversation's sender)
    target: str = Field(max_length=64, index=True)  # keyed hash of the phone it went to, to cap sending
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    created_at: datetime = _when()
    expires_at: datetime = _when()
    used_at: datetime | None = _when(nullable=True)
