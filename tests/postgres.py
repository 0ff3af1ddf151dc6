"""A real PostgreSQL for the tests: found, or started, or skipped loudly.

Each test gets its own database cloned from a migrated template (CREATE DATABASE ... TEMPLATE is a
file copy, about 10 ms), so tests never see each other's rows and the migration runs once per session.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import uuid

import asyncpg

NO_POSTGRES = "PostgreSQL not available"  # how every skip for want of a server begins
ADMIN_URL = os.environ.get("SUNSHINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


def _try_to_start_local_cluster() -> None:
    """Start Debian's packaged cluster if it is installed but stopped (a fresh boot of a dev machine)."""
    if not shutil.which("pg_ctlcluster"):
        return
    for version_dir in sorted(glob.glob("/etc/postgresql/*")):
        version = os.path.basename(version_dir)
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            timeout=60,
            check=False,
        )


class PostgresServer:
    """Hands out fresh databases cloned from one migrated template."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.run_id = uuid.uuid4().hex[:8]
        self.template = f"sunshine_tpl_{self.run_id}"
        self.created: list[str] = []

    def url_for(self, name: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"

    async def _admin(self, sql: str) -> None:
        connection = await asyncpg.connect(self.admin_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def build_template(self) -> None:
        from storage.database import Database

        await self._admin(f'CREATE DATABASE "{self.template}"')
        database = Database(self.url_for(self.template))
        try:
            await database.upgrade()
        finally:
            await database.dispose()

    async def fresh_database(self) -> str:
        name = f"sunshine_t_{self.run_id}_{len(self.created)}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url_for(name)

    async def drop_all(self, connections: int = 4) -> None:
        """Drop every database this run made. A thousand drops one after another took over a minute
        of CI's time, mostly each drop's own file removal; a few connections at once share that out."""
        names = list(self.created)
        spare = [await asyncpg.connect(self.admin_url) for _ in range(connections)]

        async def drop(connection: asyncpg.Connection) -> None:
            while names:
                name = names.pop()
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        try:
            await asyncio.gather(*(drop(connection) for connection in spare))
            await spare[0].execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        finally:
            for connection in spare:
                await connection.close()


def find_server() -> PostgresServer | None:
    """A server that answers at ADMIN_URL, starting the local one if needed; None when there is none."""
    if not asyncio.run(_answers(ADMIN_URL)):
        _try_to_start_local_cluster()
        if not asyncio.run(_answers(ADMIN_URL)):
            return None
    server = PostgresServer(ADMIN_URL)
    asyncio.run(server.build_template())
    return server
