"""Fixtures for the Telegram channel: a fake Bot API, the channel pointed at it, and its webhook mounted
in a bare app whose handler is the real pipeline on the test database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bots.pipeline import Pipeline, Services
from channels.base import ChannelContext
from channels.telegram import TelegramChannel
from channels.telegram.limits import RateLimiter
from core.messages import Inbound, Outbound
from storage.models import InboundMessage, OutboxMessage
from tests.fakes.telegram_api import FakeTelegram, start_fake

TOKEN = "123456789:AAtest-token-0123456789abcdefghij"
SECRET = "webhook-secret-0123456789abcdef"
BOT = "county"
CHAT = 700100200
WEBHOOK = f"/webhooks/telegram/{BOT}"

MakeClient = Callable[[web.Application], Awaitable[TestClient]]


class VirtualTime:
    """A clock that moves only when someone sleeps on it: the limiter's schedule, without the waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wakes: list[float] = []  # when each sleeper asked to be woken

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = self.now + seconds
        self.wakes.append(wake)
        await asyncio.sleep(0)
        self.now = max(self.now, wake)


class Mailbox:
    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        return []


class Pipe:
    """The real pipeline as a channel context sees it, remembering what went through."""

    def __init__(self, pipeline: Pipeline, channel: TelegramChannel) -> None:
        self.pipeline = pipeline
        self.capabilities = channel.capabilities
        self.inbound: list[Inbound] = []
        self.replies: list[list[Outbound] | None] = []

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        self.inbound.append(inbound)
        replies = await self.pipeline.handle(inbound, self.capabilities, inline=True)
        self.replies.append(replies)
        return replies

    async def handle_within(self, inbound: Inbound, budget: float) -> list[Outbound] | None:
        self.inbound.append(inbound)
        replies = await self.pipeline.handle_within(inbound, self.capabilities, budget)
        self.replies.append(replies)
        return replies


def bot_settings(fake: FakeTelegram, **extra: Any) -> dict[str, Any]:
    return {"token": TOKEN, "secret_token": SECRET, "api_base": fake.base_url, **extra}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await start_fake(TOKEN)
    yield server
    await server.close()


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
async def channel(fake: FakeTelegram, vtime: VirtualTime) -> AsyncIterator[TelegramChannel]:
    """The channel, configured for the bot and talking to the fake; its sessions closed afterwards."""
    telegram = TelegramChannel()
    telegram.configure(
        ChannelContext(bot_ids=(BOT,), handle=_unused, mailbox=Mailbox(), settings={BOT: bot_settings(fake)})
    )
    telegram.clients.use_limiter(BOT, RateLimiter(clock=vtime.clock, sleep=vtime.sleep))
    yield telegram
    await telegram.close()


@pytest.fixture(params=["inline", "budgeted"])
def pipe_mode(request: pytest.FixtureRequest) -> str:
    """Which handler the deployment gives: `handle` only, or `handle_within` too."""
    return str(request.param)


@pytest.fixture
def pipe(pipeline: Pipeline, channel: TelegramChannel) -> Pipe:
    return Pipe(pipeline, channel)


def context_for(pipe: Pipe, fake: FakeTelegram, mode: str = "inline") -> ChannelContext:
    return ChannelContext(
        bot_ids=(BOT, "other"),
        handle=pipe.handle,
        handle_within=pipe.handle_within if mode == "budgeted" else None,
        mailbox=Mailbox(),
        settings={BOT: bot_settings(fake)},
    )


async def webhook_client(
    aiohttp_client: MakeClient, channel: TelegramChannel, context: ChannelContext
) -> TestClient:
    channel.configure(context)
    app = web.Application()
    app.add_routes(channel.routes(context))
    return await aiohttp_client(app)


@pytest.fixture
async def client(
    aiohttp_client: MakeClient, channel: TelegramChannel, pipe: Pipe, fake: FakeTelegram
) -> TestClient:
    return await webhook_client(aiohttp_client, channel, context_for(pipe, fake))


async def post_update(client: TestClient, update: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    return await client.post(WEBHOOK, json=update, headers=headers)


async def count_inbound(services: Services) -> int:
    async with services.database.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


async def count_outbox(services: Services, status: str | None = None) -> int:
    query = select(func.count()).select_from(OutboxMessage)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    async with services.database.reading() as session:
        return int(await session.scalar(query) or 0)


async def _unused(inbound: Inbound) -> list[Outbound]:
    raise AssertionError("the configuring context's handler is not used by these tests")
