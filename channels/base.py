"""The channel interface: what every platform adapter implements, and what it may ask of the service.

Channels turn a platform's requests into neutral `Inbound` messages and neutral `Outbound` messages into
the platform's reply or API call. They know nothing of conversations or cases: what they need from the
rest of the service arrives as the small callables below, wired by `bots`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from core.backend import Backend
from core.messages import Capabilities, Inbound, Outbound

# Runs one inbound message through the whole pipeline (one transaction) and returns the replies,
# which the channel must deliver in its response to the platform (they are recorded as sent).
InboundHandler = Callable[[Inbound], Awaitable[list[Outbound]]]

# The same, for platforms that only wait so long (WeChat: 5 s): returns the replies when the step finished
# within `budget` seconds and they were claimed for the inline response, else None; then the outbox
# dispatcher sends them through the platform's API when they are ready.
BudgetedHandler = Callable[[Inbound, float], Awaitable[list[Outbound] | None]]

# Opens one unit of work (a transaction) for state a channel keeps itself, such as SMS opt-outs.
UnitOfWork = Callable[[], AbstractAsyncContextManager[Backend]]

# A platform's delivery report for a message the outbox sent: (provider message id, status, error).
StatusSink = Callable[[str, str, str | None], Awaitable[bool]]


class Mailbox(Protocol):
    """Messages sent to an address outside the inline reply (staff answers, notices), for channels whose
    client fetches them (web chat polls) instead of the platform pushing them."""

    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        """(outbox id, message) pairs newer than `after_id`, oldest first; marks them delivered."""
        ...


@dataclass(frozen=True)
class Delivery:
    """What a platform said when the outbox sent a message."""

    ok: bool
    provider_message_id: str | None = None
    error: str | None = None
    retry: bool = False  # a transient failure worth another attempt
    retry_after: float | None = None  # seconds the platform asked us to wait (HTTP 429)


@dataclass(frozen=True)
class ChannelContext:
    """What `bots` hands every channel when it mounts it."""

    bot_ids: Sequence[str]
    handle: InboundHandler
    mailbox: Mailbox
    # bot id → this channel's settings table for that bot (credentials come from the environment)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    public_base_url: str = ""  # how the platforms reach us, for signature checks behind a proxy
    handle_within: BudgetedHandler | None = None
    report_status: StatusSink | None = None
    unit_of_work: UnitOfWork | None = None


class Channel(Protocol):
    name: str
    capabilities: Capabilities

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        """The HTTP endpoints this channel serves (webhooks, the web chat page)."""
        ...

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        """Deliver one outbox row; called by the outbox dispatcher, never on the request path."""
        ...
