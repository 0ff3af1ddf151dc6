"""The SMS channel mounted on a bare app, with the real pipeline and database behind it and a local fake
Twilio for everything it sends; requests are signed with twilio's own RequestValidator."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bots.pipeline import Pipeline, Services
from channels.base import ChannelContext
from channels.sms import SmsChannel
from channels.sms.channel import UnitOfWork
from core import outbox
from core.backend import Backend
from core.messages import Inbound, Outbound
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

BOT = "county"
FROM_NUMBER = "+15005550006"
PUBLIC = "https://gov.example.cn"
CITIZEN = "+8613800138000"
INBOUND_PATH = f"/webhooks/sms/{BOT}"
STATUS_PATH = f"/webhooks/sms/{BOT}/status"

MakeClient = Callable[[web.Application], Awaitable[TestClient]]


class NoMailbox:
    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        return []


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def message(
    body: str = "你好", *, sid: str | None = None, sender: str = CITIZEN, **extra: str
) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS."""
    sid = sid or new_sid()
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": FROM_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def messages_of(twiml: str) -> list[str]:
    """The <Message> bodies of a TwiML answer."""
    root = ElementTree.fromstring(twiml.encode("utf-8"))
    assert root.tag == "Response"
    return [element.text or "" for element in root.iter("Message")]


class Harness:
    def __init__(self, channel: SmsChannel, client: TestClient, fake: FakeTwilio, services: Services) -> None:
        self.channel = channel
        self.client = client
        self.fake = fake
        self.services = services
        self.handled: list[Inbound] = []

    async def post(
        self,
        form: dict[str, str],
        *,
        path: str = INBOUND_PATH,
        signed_url: str | None = None,
        token: str = AUTH_TOKEN,
        signature: str | None = None,
    ) -> ClientResponse:
        """Post `form` signed for the public URL of `path` (or `signed_url`), as Twilio would."""
        if signature is None:
            signature = sign(signed_url or PUBLIC + path, form, token)
        return await self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})

    async def say(self, text: str, *, sid: str | None = None, sender: str = CITIZEN) -> list[str]:
        response = await self.post(message(text, sid=sid, sender=sender))
        assert response.status == 200, await response.text()
        assert response.content_type == "text/xml"
        return messages_of(await response.text())

    async def count(self, model: Any) -> int:
        async with self.services.database.reading() as session:
            return int((await session.execute(select(func.count()).select_from(model))).scalar_one())

    @asynccontextmanager
    async def backend(self) -> AsyncIterator[Backend]:
        async with self.services.database.transaction() as session:
            yield self.services.backend(session)


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = await FakeTwilio().start()
    yield fake
    await fake.close()


@pytest.fixture
def sms_settings(fake_twilio: FakeTwilio) -> dict[str, Any]:
    return {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "api_base": fake_twilio.api_base,
        "max_per_second": 50,
    }


def unit_of_work_for(services: Services) -> UnitOfWork:
    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[Backend]:
        async with services.database.transaction() as session:
            yield services.backend(session)

    return unit_of_work


def context_for(
    channel: SmsChannel, pipeline: Pipeline, services: Services, bot_settings: dict[str, Any], **extra: Any
) -> ChannelContext:
    async def handle(inbound: Inbound) -> list[Outbound]:
        return await pipeline.handle(inbound, channel.capabilities, inline=True)

    async def report_status(sid: str, status: str, error: str | None) -> bool:
        async with services.database.transaction() as session:
            return await outbox.mark_status(services.backend(session), sid, status, error=error)

    fields: dict[str, Any] = {
        "bot_ids": (BOT,),
        "handle": handle,
        "mailbox": NoMailbox(),
        "settings": {BOT: bot_settings},
        "public_base_url": PUBLIC,
        "report_status": report_status,
        "unit_of_work": unit_of_work_for(services),
        **extra,
    }
    return ChannelContext(**fields)


@pytest.fixture
async def sms(
    aiohttp_client: MakeClient,
    pipeline: Pipeline,
    services: Services,
    fake_twilio: FakeTwilio,
    sms_settings: dict[str, Any],
) -> AsyncIterator[Harness]:
    channel = SmsChannel()
    context = context_for(channel, pipeline, services, sms_settings)
    original = context.handle
    harness: Harness

    async def recording(inbound: Inbound) -> list[Outbound]:
        harness.handled.append(inbound)
        return await original(inbound)

    context = dataclasses.replace(context, handle=recording)
    channel.configure(context)
    app = web.Application()
    app.add_routes(channel.routes(context))
    harness = Harness(channel, await aiohttp_client(app), fake_twilio, services)
    yield harness
    await channel.close()
