"""SQLite's one writer: reads must neither wait for it nor make it wait, across processes.

Found by the memory benchmark with a million open cases: every read began IMMEDIATE, so the
scheduler's minutes-long read of the open cases held the write lock, and the health check, webhooks
and the worker all timed out with "database is locked".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select, text

from storage.database import Database
from storage.models import Case


async def test_a_long_read_keeps_no_writer_in_another_process_waiting(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sunshine.db'}"
    reader, writer = Database(url), Database(url)  # two engines: as two processes share the file
    try:
        await reader.upgrade()
        async with reader.reading() as session:
            assert await session.scalar(select(func.count()).select_from(Case)) == 0
            # Still inside the read: a write elsewhere commits at once.
            async with asyncio.timeout(5):
                async with writer.transaction() as other:
                    await other.execute(text("CREATE TABLE written_meanwhile (x INTEGER)"))
        async with reader.reading() as session:
            found = text("SELECT name FROM sqlite_master WHERE name = 'written_meanwhile'")
            assert (await session.execute(found)).scalar_one() == "written_meanwhile"
    finally:
        await reader.dispose()
        await writer.dispose()


async def test_a_writer_still_takes_the_write_lock_as_it_begins(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE for writers: two can never deadlock upgrading read locks to write locks."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sunshine.db'}"
    first, second = Database(url), Database(url)
    try:
        await first.upgrade()
        async with first.transaction() as session:
            await session.execute(text("SELECT 1"))
            waiting = asyncio.ensure_future(_write(second))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "a second writer began while the first held the lock"
        await asyncio.wait_for(waiting, 10)
    finally:
        await first.dispose()
        await second.dispose()


async def _write(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("SELECT 1"))
