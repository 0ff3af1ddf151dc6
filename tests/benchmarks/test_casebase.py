"""The bulk-built benchmark database holds what filing the same cases one by one would have written.

If it did not, the duplicate benchmark would time look-ups against an index the service never makes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from benchmarks import casebase
from benchmarks.corpus import Corpus, Filing
from core import duplicates
from core.backend import Backend
from core.clock import FixedClock
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database

# Random in the real path too (or encrypted with a random nonce): compared apart, below.
_RANDOM = {"number", "password_hash", "contact_enc"}


def _table(path: Path, name: str, order: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    connection = sqlite3.connect(path)
    try:
        cursor = connection.execute(f"SELECT * FROM {name} ORDER BY {order}")
        columns = [column[0] for column in cursor.description]
        return columns, cursor.fetchall()
    finally:
        connection.close()


def _without_random(columns: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{c: v for c, v in zip(columns, row, strict=True) if c not in _RANDOM} for row in rows]


async def _file_each(path: Path, filings: list[Filing]) -> None:
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.upgrade()
    keyring = casebase.keyring()
    policy = Policy()
    calendar = WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)
    clock = FixedClock(casebase.NOW)
    try:
        for filing in filings:
            clock.set(casebase.filed_at(filing))
            async with database.transaction() as session:
                backend = Backend(session, keyring, clock, policy, calendar)
                filed = await duplicates.submit(backend, casebase.draft_of(filing))
            assert filed.linked is None  # distinct matters: nothing for the real path to merge either
    finally:
        await database.dispose()


def test_a_bulk_build_equals_filing_each_case(tmp_path: Path) -> None:
    """Synchronous: the builder runs its own event loop for the migration, as the benchmark does."""
    filings = Corpus(seed=5).background(20)
    bulk = tmp_path / "bulk.db"
    casebase.build(bulk, filings)
    real = tmp_path / "real.db"
    asyncio.run(_file_each(real, filings))
    keyring = casebase.keyring()

    for name, order in (
        ("cases", "id"),
        ("case_events", "id"),
        ("case_ngrams", "case_id, gram"),
        ("case_people", "case_id, person"),
    ):
        real_columns, real_rows = _table(real, name, order)
        bulk_columns, bulk_rows = _table(bulk, name, order)
        assert bulk_columns == real_columns
        assert len(bulk_rows) == len(real_rows) > 0, name
        assert _without_random(bulk_columns, bulk_rows) == _without_random(real_columns, real_rows), name

    columns, rows = _table(bulk, "cases", "id")
    by_name = [dict(zip(columns, row, strict=True)) for row in rows]
    for row, filing in zip(by_name, filings, strict=True):
        assert len(row["number"]) == 12 and keyring.verify_password(row["password_hash"], "not it") is False
        expected = {"channel": filing.channel, "address": filing.sender} if filing.sender else None
        assert (keyring.decrypt_json(row["contact_enc"]) if row["contact_enc"] else None) == expected
    assert len({row["number"] for row in by_name}) == len(by_name)
    # The same index, built at the end instead of as rows came.
    index = "SELECT sql FROM sqlite_master WHERE name = 'ix_case_ngrams_lookup'"
    assert sqlite3.connect(bulk).execute(index).fetchone() == sqlite3.connect(real).execute(index).fetchone()
