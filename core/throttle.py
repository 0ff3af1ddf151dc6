"""Failure counters that lock out guessing of case passwords and subsidy names.

Keys are keyed hashes (of a case number, a sender, an ID number), never the raw values, and a key
costs the same whether or not anything real stands behind it: a lockout tells nothing about existence.
Rows live in the database, so every process and worker sees the same counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.backend import Backend
from storage.models import Throttle

MAX_KEY_LENGTH = 96


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"throttle keys are 1..{MAX_KEY_LENGTH} characters")


async def _load(b: Backend, key: str, *, for_update: bool = False) -> Throttle | None:
    statement = select(Throttle).where(Throttle.key == key)
    if for_update:
        # populate_existing: once the row lock is ours, read the values another writer just committed.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await b.session.execute(statement)).scalar_one_or_none()


async def locked_until(b: Backend, key: str) -> datetime | None:
    """When the lock on `key` ends, or None if it is not locked now."""
    _check_key(key)
    row = await _load(b, key)
    if row is None or row.locked_until is None:
        return None
    return row.locked_until if row.locked_until > b.clock.now() else None


async def failures(b: Backend, key: str, *, window: timedelta) -> int:
    """Failures counted in the window still running (0 once it has passed)."""
    _check_key(key)
    row = await _load(b, key)
    if row is None or row.window_started_at + window <= b.clock.now():
        return 0
    return row.failures


async def register_failure(
    b: Backend, key: str, *, lock_after: int, window: timedelta, lock_for: timedelta
) -> int:
    """Count one failure; the `lock_after`-th within `window` locks the key for `lock_for`.

    A window opens with its first failure; once it has passed, or a lock has run out, counting starts
    again from zero, so an old lockout does not make the next single mistake lock again.
    """
    _check_key(key)
    if lock_after < 1:
        raise ValueError("lock_after must be at least 1")
    now = b.clock.now()
    row = await _load(b, key, for_update=True)
    if row is None:
        row = await _insert(b, key, now)
    lock_ran_out = row.locked_until is not None and row.locked_until <= now
    if row.window_started_at + window <= now or lock_ran_out:
        row.failures = 0
        row.window_started_at = now
        row.locked_until = None
    row.failures += 1
    if row.failures >= lock_after:
        until = now + lock_for
        row.locked_until = until if row.locked_until is None else max(row.locked_until, until)
    await b.session.flush()
    return row.failures


async def _insert(b: Backend, key: str, now: datetime) -> Throttle:
    """A fresh row, or the one another transaction inserted a moment before us."""
    row = Throttle(key=key, failures=0, window_started_at=now)
    try:
        async with b.session.begin_nested():
            b.session.add(row)
    except IntegrityError:
        existing = await _load(b, key, for_update=True)
        if existing is None:
            raise
        return existing
    return row


async def reset(b: Backend, key: str) -> None:
    _check_key(key)
    await b.session.execute(delete(Throttle).where(Throttle.key == key))


async def purge(b: Backend, *, older_than: timedelta) -> int:
    """Drop counters whose window began before `older_than` ago and that hold no running lock.

    Meant for a periodic job: every mistyped number leaves a row, and old ones count for nothing.
    """
    now = b.clock.now()
    result = await b.session.execute(
        delete(Throttle).where(
            col(Throttle.window_started_at) < now - older_than,
            or_(col(Throttle.locked_until).is_(None), col(Throttle.locked_until) <= now),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
