"""What every backend operation runs with: the unit of work's session, the keys, the clock, the rules."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

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
