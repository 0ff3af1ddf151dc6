"""The database: an async engine from a URL, the schema upgrade, and one transaction per unit of work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.sqlite_driver import DRIVER_NAME  # importing it registers the dialect

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x5355_4E53  # "SUNS": the advisory lock key that serialises schema upgrades
_READ_ONLY = "sunshine_read_only"  # execution option of the engine that `Database.reading` uses


class Database:
    """Owns the engine. Built once in the bootstrap, never at import time."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        engine_url = self.url
        if self.url.drivername == "sqlite+aiosqlite":
            engine_url = self.url.set(drivername=DRIVER_NAME)
        self.engine: AsyncEngine = create_async_engine(engine_url, **kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads begin DEFERRED on SQLite (see `_on_begin`): in WAL they then never wait for a writer
        # nor keep one waiting, however long they run.
        self._readers = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time; queueing writers here keeps "database is locked" away
        # within a process, and BEGIN IMMEDIATE (below) does the same between processes.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _make_sqlite_durable(self.engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: everything inside commits together or not at all."""
        if self._write_lock is not None:
            async with self._write_lock, self._sessions() as session, session.begin():
                yield session
        else:
            async with self._sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only session: no write lock, nothing committed."""
        async with self._readers() as session:
            yield session

    async def upgrade(self, revision: str = "heads") -> None:
        """Bring the schema to `revision` with the Alembic migrations (the one source of the schema).

        "heads" rather than "head": features developed side by side may add sibling revisions before a
        merge revision joins them, and every one of them must be applied.
        """
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))

        def run(connection: Any) -> None:
            if not self.is_sqlite:
                # Every web process upgrades as it starts; when several start together one migrates and
                # the others wait here, then find nothing left to do. (SQLite's BEGIN IMMEDIATE already
                # lets one writer in at a time.)
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        async with self.engine.begin() as connection:
            await connection.run_sync(run)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _make_sqlite_durable(engine: AsyncEngine) -> None:
    """WAL with synchronous=FULL: an acknowledged commit survives a crash or power loss."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" below decide how to begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the write lock as it begins, so two never deadlock upgrading a read lock. A
        # reader must not: every read beginning IMMEDIATE queued behind (and held up) every write, and
        # a long read (the scheduler's pass over a million open cases) locked everyone else out.
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
