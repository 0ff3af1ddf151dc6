"""The WeChat webhook mounted in a bare app over the real pipeline and database, and a fake WeChat API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bots.pipeline import Pipeline, Services
from channels.base import ChannelContext
from channels.wechat import WeChatChannel
from core.messages import Inbound, Outbound
from storage.models import InboundMessage, OutboxMessage
from tests.channels.wechat.wire import AES_KEY, TOKEN, Callback
from tests.fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChatApi

BOT = "county"


class NoMailbox:
    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        raise AssertionError("WeChat pushes its messages; nothing polls a mailbox")


@dataclass
class Handled:
    """The real pipeline, recording what the channel handed it and what came back."""

    pipeline: Pipeline
    channel: WeChatChannel
    inbound: list[Inbound] = field(default_factory=list)
    answers: list[list[Outbound] | None] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)

    async def __call__(self, inbound: Inbound, budget: float) -> list[Outbound] | None:
        self.inbound.append(inbound)
        self.budgets.append(budget)
        answer = await self.pipeline.handle_within(inbound, self.channel.capabilities, _patient(budget))
        self.answers.append(answer)
        return answer

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        raise AssertionError("the WeChat webhook must use the budgeted handler")


def _patient(budget: float) -> float:
    """The budget the pipeline gets here. Tests about running out of it set one under a second; for the
    rest, the 4 s default is WeChat's wait, not what they test, and a first step on a freshly cloned
    PostgreSQL database of a busy shared CI machine once took longer (a passive answer became
    "success"). So those wait as long as the step takes; `budgets` still records the channel's own."""
    return budget if budget < 1.0 else max(budget, 60.0)


@dataclass
class Webhook:
    client: TestClient
    channel: WeChatChannel
    handled: Handled

    async def post(self, callback: Callback, bot: str = BOT) -> tuple[int, str, str]:
        body = callback.body.encode() if isinstance(callback.body, str) else callback.body
        response = await self.client.post(f"/webhooks/wechat/{bot}", params=callback.query, data=body)
        return response.status, response.content_type, await response.text()


def account_settings(api_base: str, **overrides: Any) -> dict[str, Any]:
    return {
        "token": TOKEN,
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "encoding_aes_key": AES_KEY,
        "mode": "compatible",
        "api_base": api_base,
        **overrides,
    }


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeWeChatApi]:
    fake = FakeWeChatApi()
    await fake.start()
    yield fake
    await fake.close()


MakeWebhook = Callable[..., Awaitable[Webhook]]


@pytest.fixture
def make_webhook(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    pipeline: Pipeline,
    fake_api: FakeWeChatApi,
) -> MakeWebhook:
    async def make(**overrides: Any) -> Webhook:
        channel = WeChatChannel()
        handled = Handled(pipeline, channel)
        settings = {BOT: account_settings(fake_api.api_base, **overrides)}
        context = ChannelContext(
            bot_ids=(BOT, "unconfigured"),  # a bot of the deployment without an official account
            handle=handled.handle,
            mailbox=NoMailbox(),
            settings=settings,
            handle_within=handled,
        )
        channel.configure(context)
        app = web.Application()
        app.add_routes(channel.routes(context))
        return Webhook(await aiohttp_client(app), channel, handled)

    return make


async def inbound_rows(services: Services) -> list[InboundMessage]:
    async with services.database.reading() as session:
        return list((await session.execute(select(InboundMessage).order_by(InboundMessage.id))).scalars())


async def outbox_rows(services: Services) -> list[OutboxMessage]:
    async with services.database.reading() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def count_inbound(services: Services) -> int:
    async with services.database.reading() as session:
        return int((await session.execute(select(func.count()).select_from(InboundMessage))).scalar_one())
