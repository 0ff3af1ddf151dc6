"""The Alembic migrations are the one source of the schema: they must build exactly what the models say."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

import storage.schema  # noqa: F401
from storage.database import MIGRATIONS, Database


async def test_upgrade_builds_every_table_with_no_drift(database: Database) -> None:
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with database.engine.connect() as connection:
        tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        changes = await connection.run_sync(diff)
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert changes == []


async def test_upgrade_twice_is_harmless_and_reaches_every_head(database: Database) -> None:
    await database.upgrade()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = set(ScriptDirectory.from_config(config).get_heads())
    async with database.engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        versions = {row[0] for row in rows}
    assert versions == heads


async def test_sqlite_commits_are_durable(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite only")
    async with database.engine.connect() as connection:
        journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
        synchronous = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
        foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    assert (journal, synchronous, foreign_keys) == ("wal", 2, 1)
