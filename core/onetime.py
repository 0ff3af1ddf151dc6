"""One-time codes: six digits sent to a phone, proving the person asking holds that phone.

Only a keyed hash of the code is stored, bound to who asked for it (the conversation's sender key),
so a code read off one phone cannot be typed into somebody else's conversation. Each code allows a
few tries and expires in minutes; how many codes one phone receives per hour is capped, so nobody can
use the bot to flood a villager's phone with texts.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlmodel import col

from core.backend import Backend
from storage.duplicate_models import OneTimeCode

CODE_DIGITS = 6
VALID_FOR = timedelta(minutes=10)
MAX_TRIES = 3
MAX_PER_PHONE_PER_HOUR = 5


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"  # tries remain
    EXHAUSTED = "exhausted"  # the last try was wrong: the code is dead
    EXPIRED = "expired"  # too late, already used, or not this sender's code


@dataclass(frozen=True)
class Issued:
    code_id: int
    code: str  # to be sent, never stored
    expires_at: datetime


@dataclass(frozen=True)
class Checked:
    verdict: Verdict
    tries_left: int


def _code_hash(b: Backend, owner: str, code: str) -> str:
    return b.keyring.lookup_hash("one_time_code", f"{owner}:{code}")


def _target(b: Backend, phone: str) -> str:
    return b.keyring.lookup_hash("one_time_code_phone", phone)


async def issue(b: Backend, *, purpose: str, owner: str, phone: str) -> Issued | None:
    """A fresh code for `owner` to be sent to `phone`; None when that phone has had enough this hour."""
    now = b.clock.now()
    target = _target(b, phone)
    recent = select(func.count()).where(
        col(OneTimeCode.target) == target, col(OneTimeCode.created_at) >= now - timedelta(hours=1)
    )
    if (await b.session.execute(recent)).scalar_one() >= MAX_PER_PHONE_PER_HOUR:
        return None
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = OneTimeCode(
        purpose=purpose,
        owner=owner,
        target=target,
        code_hash=_code_hash(b, owner, code),
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    b.session.add(row)
    await b.session.flush()
    assert row.id is not None
    return Issued(row.id, code, row.expires_at)


async def check(b: Backend, code_id: int, *, owner: str, attempt: str) -> Checked:
    """Compare a typed code; a right one is used up, a wrong one costs a try."""
    statement = (
        select(OneTimeCode)
        .where(col(OneTimeCode.id) == code_id, col(OneTimeCode.owner) == owner)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = (await b.session.execute(statement)).scalar_one_or_none()
    now = b.clock.now()
    if row is None or row.used_at is not None or now >= row.expires_at:
        return Checked(Verdict.EXPIRED, 0)
    if row.attempts >= MAX_TRIES:
        return Checked(Verdict.EXHAUSTED, 0)
    if hmac.compare_digest(row.code_hash, _code_hash(b, owner, attempt)):
        row.used_at = now
        await b.session.flush()
        return Checked(Verdict.ACCEPTED, MAX_TRIES - row.attempts)
    row.attempts += 1
    await b.session.flush()
    left = MAX_TRIES - row.attempts
    return Checked(Verdict.WRONG if left else Verdict.EXHAUSTED, left)
