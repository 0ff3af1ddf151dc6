"""What every desk handler works with: the deployment's services, the notifier, and the signed-in viewer.

Built once when the desk is mounted and stored on the desk's sub-application; handlers reach it with
`desk(request)`. Nothing here holds state another process would need: sessions live in cookies,
everything else in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bots.bootstrap import Deployment
from bots.imitation import capabilities_of
from bots.notices import Notifier
from core.backend import Backend


@dataclass(frozen=True)
class Viewer:
    """The signed-in staff member, re-read from the database on every request (roles change, people leave)."""

    id: int
    username: str
    display_name: str
    role: str  # admin, supervisor, staff
    department: str | None

    @property
    def sees_all(self) -> bool:
        """Supervisors and admins see every department's cases and handoffs."""
        return self.role in ("admin", "supervisor")

    @property
    def can_reveal(self) -> bool:
        return self.sees_all

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def role_rank(self) -> int:
        return ROLE_RANK.get(self.role, 0)


ROLE_RANK = {"staff": 1, "supervisor": 2, "admin": 3}


@dataclass
class Desk:
    deployment: Deployment
    notifier: Notifier
    cookie_secure: bool
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def for_deployment(cls, deployment: Deployment) -> Desk:
        def concise(channel: str) -> bool:
            known = deployment.capabilities.get(channel) or capabilities_of(channel, deployment.channels)
            return bool(known and known.concise)

        base = deployment.settings.public_base_url or ""
        return cls(
            deployment=deployment,
            notifier=Notifier(
                deployment.services.profiles,
                concise,
                sms_bots=frozenset(bot for bot, names in deployment.bot_channels.items() if "sms" in names),
            ),
            cookie_secure=base.startswith("https://"),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.deployment.services.policy.timezone)

    def now(self) -> datetime:
        return self.deployment.services.clock.now()

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Backend]:
        services = self.deployment.services
        async with services.database.transaction() as session:
            yield services.backend(session)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Backend]:
        services = self.deployment.services
        async with services.database.reading() as session:
            yield services.backend(session)

    def departments(self) -> tuple[str, ...]:
        """Every department any bot names, in the order configured, for filters and assignment."""
        seen: dict[str, None] = {}
        for profile in self.deployment.services.profiles.values():
            seen.update(dict.fromkeys(profile.departments))
        return tuple(seen)

    def departments_of(self, bot_id: str) -> tuple[str, ...]:
        profile = self.deployment.services.profiles.get(bot_id)
        return profile.departments if profile and profile.departments else self.departments()


DESK = web.AppKey("desk", Desk)
VIEWER = web.RequestKey("desk.viewer", object)  # a Viewer, or None when nobody is signed in


def desk(request: web.Request) -> Desk:
    return request.app[DESK]


def viewer(request: web.Request) -> Viewer:
    """The signed-in viewer; only called by handlers behind `guard`, which guarantees one."""
    found = request.get(VIEWER)
    if not isinstance(found, Viewer):
        raise web.HTTPUnauthorized()
    return found


def source(request: web.Request) -> str:
    """ "From where" for the audit trail: the peer address the server saw (a proxy's, behind one)."""
    return f"desk {request.remote or '?'}"[:128]
