"""One service per fuzz test on the shared `database` fixture (SQLite and PostgreSQL), and the settings
that keep the in-CI runs to a few dozen examples each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from storage.database import Database
from tests.drills.fuzz.service import FuzzService

# The service is built once per test and shared by its examples (function-scoped on purpose), examples
# may be large, and a database round trip per example is slower than hypothesis expects.
CI = settings(
    max_examples=25,
    deadline=None,
    database=None,  # no .hypothesis directory in the working tree; failures print their reproduction
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
async def service(database: Database, tmp_path: Path) -> AsyncIterator[FuzzService]:
    url = database.url.render_as_string(hide_password=False)
    running = await FuzzService.start(url, tmp_path)
    yield running
    await running.close()
