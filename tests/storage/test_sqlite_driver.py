"""The one-trip SQLite driver behaves as the stock aiosqlite dialect does, in every way the code relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.database import Database

_INSERT = text("INSERT INTO notes (body) VALUES (:body)")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE NOT NULL)"))
    yield database
    await database.dispose()


async def _bodies(database: Database) -> list[str]:
    async with database.reading() as session:
        return list((await session.scalars(text("SELECT body FROM notes ORDER BY id"))).all())


async def test_sqlite_urls_get_the_one_trip_driver(database: Database) -> None:
    assert database.engine.dialect.driver == "sunshine_aiosqlite"
    assert str(database.url).startswith("sqlite+aiosqlite:///")  # what the operator configured stays


async def test_rows_counts_and_ids_come_back(database: Database) -> None:
    async with database.transaction() as session:
        inserted = await session.execute(text("INSERT INTO notes (body) VALUES ('路灯不亮')"))
        assert inserted.lastrowid == 1
        await session.execute(_INSERT, [{"body": "一"}, {"body": "二"}])
        returned = await session.execute(text("INSERT INTO notes (body) VALUES ('三') RETURNING id, body"))
        assert returned.all() == [(4, "三")]
        updated = await session.execute(text("UPDATE notes SET body = body || '!' WHERE id > 1"))
        assert updated.rowcount == 3
        none = await session.execute(text("SELECT body FROM notes WHERE id = 99"))
        assert none.all() == []
    assert await _bodies(database) == ["路灯不亮", "一!", "二!", "三!"]


async def test_a_failed_statement_rolls_back_the_whole_transaction(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('half')"))
            await session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))  # UNIQUE fails
    assert await _bodies(database) == ["kept"]
    async with database.transaction() as session:  # the connection went back to the pool clean
        await session.execute(text("INSERT INTO notes (body) VALUES ('after')"))
    assert await _bodies(database) == ["kept", "after"]


async def test_an_exception_in_the_unit_of_work_undoes_its_writes(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
            raise RuntimeError("the step failed")
    assert await _bodies(database) == []


async def test_streaming_reads_still_stream(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(_INSERT, [{"body": f"n{i}"} for i in range(500)])
    async with database.reading() as session:
        result = await session.stream(text("SELECT body FROM notes ORDER BY id"))
        seen = [row.body async for row in result]
    assert seen == [f"n{i}" for i in range(500)]
