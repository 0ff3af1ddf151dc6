"""Shared fixtures: a fresh migrated database per test, a fixed clock, fast password hashing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bots.demo import DEMO_BOT_NAME, DEMO_DEPARTMENTS
from bots.pipeline import Pipeline, Services
from conversations.engine import BotProfile
from core.backend import Backend
from core.clock import FixedClock
from core.crypto import Keyring
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database
from tests import network_guard
from tests.postgres import ADMIN_URL, NO_POSTGRES, PostgresServer, find_server

network_guard.install()

# Monday 2026-03-02, 09:00 in Beijing: a working day, inside office hours.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TEST_SECRET = "test-secret-not-for-production-0123456789"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    server = find_server()
    yield server
    if server is not None:
        asyncio.run(server.drop_all())


NO_AUDIT = "pip-audit could not reach"  # tests/test_dependency_audit.py
NO_CHROMIUM = "Chromium missing"  # tests/desk/e2e/conftest.py
# Skips that leave something important untested: their banner, and what to do about it.
LOUD_SKIPS = {
    NO_POSTGRES: ("POSTGRESQL NOT AVAILABLE", "Install and start one (see .ci/run) or set "
                  "SUNSHINE_TEST_POSTGRES_URL; every PostgreSQL half of the database tests was skipped."),
    NO_AUDIT: ("DEPENDENCY AUDIT NOT RUN", ""),
    NO_CHROMIUM: ("CHROMIUM NOT AVAILABLE", "Install it with `apt-get install chromium` (see .ci/run); "
                  "the staff desk's browser tests were skipped."),
}  # fmt: skip


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Repeat the skips that leave something important untested at the end, where nobody scrolls past
    them. Read off the skip reports, which reach this process from the test workers too."""
    reasons = [_skip_reason(report) for report in terminalreporter.stats.get("skipped", [])]
    for prefix, (banner, advice) in LOUD_SKIPS.items():
        these = [reason for reason in reasons if reason.startswith(prefix)]
        if these:
            terminalreporter.write_sep("!", banner, red=True, bold=True)
            terminalreporter.write_line(f"{len(these)} test(s) SKIPPED: {these[0]}", red=True, bold=True)
            if advice:
                terminalreporter.write_line(advice, red=True, bold=True)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer | None
) -> AsyncIterator[Database]:
    """A fresh, migrated database: every database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await db.upgrade()
    else:
        if postgres_server is None:
            pytest.skip(f"{NO_POSTGRES} at {ADMIN_URL}")
        db = Database(await postgres_server.fresh_database())
    yield db
    await db.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(TEST_SECRET, password_cost="fast")


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def calendar(policy: Policy) -> WorkCalendar:
    return WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)


@pytest.fixture
async def backend(
    database: Database, keyring: Keyring, clock: FixedClock, policy: Policy, calendar: WorkCalendar
) -> AsyncIterator[Backend]:
    """A backend inside one open transaction, committed at the end of the test."""
    async with database.transaction() as session:
        yield Backend(session=session, keyring=keyring, clock=clock, policy=policy, calendar=calendar)


TEST_BOT = "county"


@pytest.fixture
def profile() -> BotProfile:
    # The transcripts speak of the demo county and its departments.
    return BotProfile(bot_id=TEST_BOT, name=DEMO_BOT_NAME, departments=DEMO_DEPARTMENTS)


@pytest.fixture
def services(
    database: Database,
    keyring: Keyring,
    clock: FixedClock,
    policy: Policy,
    calendar: WorkCalendar,
    profile: BotProfile,
) -> Services:
    """The service's long-lived pieces on a fresh database, for tests that drive whole messages."""
    return Services(
        database=database,
        keyring=keyring,
        clock=clock,
        policy=policy,
        calendar=calendar,
        profiles={profile.bot_id: profile},
    )


@pytest.fixture
def pipeline(services: Services) -> Pipeline:
    return Pipeline(services)
