"""Failure counters that lock out guessing of case passwords and subsidy names.

Keys are keyed hashes (of a case number, a sender, an ID number), never the raw values, and a key
costs the same whether or not anything real stands behind it: a lockout tells nothing about existence.
Rows live in the database, so every process and worker sees the same counts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, bindparam, case, delete, null, or_, select
from sqlmodel import col

from core.backend import Backend, dialect_insert
from storage.models import Throttle

MAX_KEY_LENGTH = 96


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"throttle keys are 1..{MAX_KEY_LENGTH} characters")


class Counted(NamedTuple):
    """A key right after a failure was counted on it."""

    failures: int
    locked_until: datetime | None  # when its lock ends; None when it is not locked


async def _load(b: Backend, key: str) -> Throttle | None:
    # populate_existing: `register_failure` writes rows past the session's identity map, and a row
    # read before it must not be answered from there.
    statement = select(Throttle).where(Throttle.key == key).execution_options(populate_existing=True)
    return (await b.session.execute(statement)).scalar_one_or_none()


async def locked_until(b: Backend, key: str) -> datetime | None:
    """When the lock on `key` ends, or None if it is not locked now."""
    _check_key(key)
    row = await _load(b, key)
    if row is None or row.locked_until is None:
        return None
    return row.locked_until if row.locked_until > b.clock.now() else None


async def counters(b: Backend, keys: Sequence[str]) -> dict[str, datetime | None]:
    """The keys that have a counter, each with when its lock ends (None when it is not locked now).

    One query where a caller would otherwise ask `locked_until` key by key: a subsidy lookup checks
    the sender and the ID number before every query, and each round trip is latency the citizen feels.
    """
    for key in keys:
        _check_key(key)
    now = b.clock.now()
    statement = select(Throttle.key, Throttle.locked_until).where(col(Throttle.key).in_(list(keys)))
    return {
        key: until if until is not None and until > now else None
        for key, until in (await b.session.execute(statement)).all()
    }


async def failures(b: Backend, key: str, *, window: timedelta) -> int:
    """Failures still counted (0 once a whole window has passed since the latest one)."""
    _check_key(key)
    row = await _load(b, key)
    if row is None or row.window_started_at + window <= b.clock.now():
        return 0
    return row.failures


async def register_failure(
    b: Backend, key: str, *, lock_after: int, window: timedelta, lock_for: timedelta
) -> int:
    """Count one failure on `key`; its count of failures now (see `register_failures`)."""
    counted = await register_failures(b, {key: lock_after}, window=window, lock_for=lock_for)
    return counted[key].failures


async def register_failures(
    b: Backend, lock_after: Mapping[str, int], *, window: timedelta, lock_for: timedelta
) -> dict[str, Counted]:
    """Count one failure on each key; the `lock_after[key]`-th before a quiet `window` passes locks that
    key for `lock_for`. Returns each key's count and lock as written, so no caller reads them back.

    Counting starts again from zero only after a whole `window` without a failure, or once a lock has
    run out, so an old lockout does not make the next single mistake lock again. The window is measured
    from the latest failure, not the first: a window fixed at its first failure would let a guesser
    spend `lock_after - 1` guesses just before it closes and as many just after, nearly twice the limit
    in a few minutes. This way no `window` (with `lock_for` at least as long) ever holds more than
    `lock_after` failures. `window_started_at` holds the time of the latest failure.

    One upsert a key, atomic on SQLite and PostgreSQL alike, where reading each row, inserting it under
    a savepoint and writing it back took five statements a key. Keys go in sorted order, so two guesses
    at once lock rows in the same order on PostgreSQL.
    """
    for key, limit in lock_after.items():
        _check_key(key)
        if limit < 1:
            raise ValueError("lock_after must be at least 1")
    now = b.clock.now()
    until = now + lock_for
    statement = _count_failure(b.dialect)
    counted: dict[str, Counted] = {}
    for key, limit in sorted(lock_after.items()):
        values = {
            "key": key,
            "limit": limit,
            "now": now,
            "quiet_before": now - window,
            "until": until,
            "first_lock": until if limit <= 1 else None,
        }
        failures, locked = (await b.session.execute(statement, values)).one()
        # A lock written here is in the future: one that ran out made the count start again above.
        counted[key] = Counted(int(failures), locked)
    return counted


@functools.cache
def _count_failure(dialect: str) -> Any:
    """The upsert `register_failures` runs, built once per database kind with every value a parameter.

    Built and compiled once: SQLAlchemy caches no compiled INSERT of several rows, and compiling this
    one anew on every wrong guess took 3 ms, most of a wrong subsidy lookup's time.
    """
    table = Throttle.__table__
    moment = table.c.window_started_at.type
    now = bindparam("now", type_=moment)
    until = bindparam("until", type_=moment)
    quiet = or_(
        table.c.window_started_at <= bindparam("quiet_before", type_=moment),
        and_(table.c.locked_until.is_not(None), table.c.locked_until <= now),
    )
    counted = case((quiet, 1), else_=table.c.failures + 1)
    kept_lock = case((quiet, null()), else_=table.c.locked_until)
    locked = case(
        (counted < bindparam("limit", type_=Integer), kept_lock),
        (or_(kept_lock.is_(None), kept_lock < until), until),
        else_=kept_lock,
    )
    return (
        dialect_insert(dialect, table)
        .values(
            key=bindparam("key"),
            failures=1,
            window_started_at=now,
            locked_until=bindparam("first_lock", type_=moment),
        )
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"failures": counted, "window_started_at": now, "locked_until": locked},
        )
        .returning(table.c.failures, table.c.locked_until)
    )


async def reset(b: Backend, key: str) -> None:
    _check_key(key)
    await b.session.execute(delete(Throttle).where(Throttle.key == key))


async def purge(b: Backend, *, older_than: timedelta) -> int:
    """Drop counters whose latest failure is older than `older_than` and that hold no running lock.

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
