"""Shared fixtures: a fresh migrated database per test, a fixed clock, fast password hashing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.backend import Backend
from core.clock import FixedClock
from core.crypto import Keyring
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database

# Monday 2026-03-02, 09:00 in Beijing: a working day, inside office hours.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TEST_SECRET = "test-secret-not-for-production-0123456789"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await db.upgrade()
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
