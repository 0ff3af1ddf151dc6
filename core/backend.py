"""What every backend operation runs with: the unit of work's session, the keys, the clock, the rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.crypto import Keyring
from core.policy import Policy
from core.workdays import WorkCalendar


@dataclass
class Backend:
    """Bound to one transaction: build one per unit of work, pass it to the `core` functions."""

    session: AsyncSession
    keyring: Keyring
    clock: Clock
    policy: Policy
    calendar: WorkCalendar

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.policy.timezone)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql": a key for statements built once per database kind."""
        return str(self.session.get_bind().dialect.name)

    def insert(self, table: Any) -> Any:
        return dialect_insert(self.dialect, table)


def dialect_insert(dialect: str, table: Any) -> Any:
    """The dialect's INSERT for `table`, which knows ON CONFLICT (the service runs on SQLite or
    PostgreSQL, and the two spell upserts with the same API from different modules)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)
