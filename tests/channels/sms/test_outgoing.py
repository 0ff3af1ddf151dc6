"""Outgoing SMS: an Outbound → the exact request the fake Twilio gets; Twilio's answers → the Delivery."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from bots.dispatcher import Dispatcher
from channels.base import Delivery
from channels.sms import SmsChannel
from channels.sms import channel as channel_module
from channels.sms.segments import segments
from core import optout, outbox
from core.messages import Choice, Outbound
from storage.models import OutboxMessage
from tests.channels.sms.conftest import BOT, CITIZEN, FROM_NUMBER, PUBLIC, Harness, MakeClient, context_for
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN

STATUS_CALLBACK = PUBLIC + "/webhooks/sms/county/status"


@dataclass(frozen=True)
class Outgoing:
    name: str
    message: Outbound
    body: str  # the Body the fake must receive
    failure: dict[str, Any] | None = None  # what the fake answers instead of accepting
    ok: bool = True
    retry: bool = False
    error: str | None = None
    retry_after: float | None = None
    opted_out: bool = False


OUTGOING = [
    Outgoing(
        "chinese notice",
        Outbound("您的案件已受理，承办部门：县民政局。"),
        "您的案件已受理，承办部门：县民政局。",
    ),
    Outgoing(
        "choices become numbered options",
        Outbound(
            "请为本次服务评分：",
            choices=(Choice("1", "满意"), Choice("2", "基本满意"), Choice("3", "不满意")),
        ),
        "请为本次服务评分：\n1 满意 2 基本满意 3 不满意",
    ),
    Outgoing(
        "smart quotes made plain to stay GSM-7",
        Outbound("We’ve received it — thanks."),
        "We've received it - thanks.",
    ),
    Outgoing("blank lines dropped", Outbound("第一行\n\n\n第二行  "), "第一行\n第二行"),
    Outgoing(
        "21610 unsubscribed: never retried, and remembered",
        Outbound("回访"),
        "回访",
        failure={"status": 400, "code": 21610, "message": "Attempt to send to unsubscribed recipient"},
        ok=False,
        error="21610 recipient unsubscribed (replied STOP)",
        opted_out=True,
    ),
    Outgoing(
        "429 with Retry-After",
        Outbound("通知"),
        "通知",
        failure={
            "status": 429,
            "code": 20429,
            "message": "Too Many Requests",
            "headers": {"Retry-After": "30"},
        },
        ok=False,
        retry=True,
        error="20429 too many requests",
        retry_after=30.0,
    ),
    Outgoing(
        "429 without a code or a wait",
        Outbound("通知"),
        "通知",
        failure={"status": 429},
        ok=False,
        retry=True,
        error="HTTP 429",
    ),
    Outgoing(
        "500",
        Outbound("通知"),
        "通知",
        failure={"status": 500, "code": 20500, "message": "Internal Server Error"},
        ok=False,
        retry=True,
        error="20500 HTTP 500",
    ),
    Outgoing(
        "503", Outbound("通知"), "通知", failure={"status": 503}, ok=False, retry=True, error="HTTP 503"
    ),
    Outgoing(
        "invalid number",
        Outbound("通知"),
        "通知",
        failure={"status": 400, "code": 21211, "message": "The 'To' number +8613800138000 is not valid"},
        ok=False,
        error="21211 invalid 'To' number",
    ),
    Outgoing(
        "other 4xx",
        Outbound("通知"),
        "通知",
        failure={"status": 403, "code": 21408, "message": "Permission to send an SMS has not been enabled"},
        ok=False,
        error="21408 sending to this region is not enabled",
    ),
    Outgoing("404", Outbound("通知"), "通知", failure={"status": 404}, ok=False, error="HTTP 404"),
]


@pytest.mark.parametrize("case", OUTGOING, ids=lambda case: case.name)
async def test_outgoing(sms: Harness, case: Outgoing) -> None:
    if case.failure is not None:
        sms.fake.fail_next(**case.failure)

    delivery = await sms.channel.send(BOT, CITIZEN, case.message)

    [request] = sms.fake.requests
    assert request.account_sid == ACCOUNT_SID
    assert request.credentials == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.fields == {
        "To": CITIZEN,
        "From": FROM_NUMBER,
        "Body": case.body,
        "StatusCallback": STATUS_CALLBACK,
    }
    assert len(request.form) == 4  # no field twice, nothing else
    expected_id = sms.fake.created[0] if case.ok else None
    assert delivery == Delivery(
        ok=case.ok,
        provider_message_id=expected_id,
        error=case.error,
        retry=case.retry,
        retry_after=case.retry_after,
    )
    async with sms.backend() as b:
        assert await optout.is_opted_out(b, BOT, "sms", CITIZEN) is case.opted_out
    # Twilio's own message quotes the number; it must never end up in the stored error.
    assert CITIZEN not in (delivery.error or "")


async def _channel(
    aiohttp_client: MakeClient, pipeline: Any, services: Any, settings: dict[str, Any], **extra: Any
) -> SmsChannel:
    channel = SmsChannel()
    app = web.Application()
    app.add_routes(channel.routes(context_for(channel, pipeline, services, settings, **extra)))
    await aiohttp_client(app)
    return channel


Build = Callable[..., Awaitable[SmsChannel]]


@pytest.fixture
async def build(aiohttp_client: MakeClient, pipeline: Any, services: Any) -> AsyncIterator[Build]:
    """Channels with other settings, mounted like the main one and closed after the test."""
    built: list[SmsChannel] = []

    async def make(settings: dict[str, Any], **extra: Any) -> SmsChannel:
        channel = await _channel(aiohttp_client, pipeline, services, settings, **extra)
        built.append(channel)
        return channel

    yield make
    for channel in built:
        await channel.close()


async def test_a_messaging_service_instead_of_a_number(
    sms: Harness, sms_settings: dict[str, Any], build: Build
) -> None:
    service = "MG" + "0123456789abcdef" * 2
    settings = {k: v for k, v in sms_settings.items() if k != "from_number"} | {
        "messaging_service_sid": service
    }
    channel = await build(settings)

    delivery = await channel.send(BOT, CITIZEN, Outbound("通知"))

    assert delivery.ok
    assert sms.fake.requests[0].fields == {
        "To": CITIZEN,
        "MessagingServiceSid": service,
        "Body": "通知",
        "StatusCallback": STATUS_CALLBACK,
    }


async def test_no_status_callback_without_a_public_address(
    sms: Harness, sms_settings: dict[str, Any], build: Build
) -> None:
    channel = await build(sms_settings, public_base_url="")
    assert (await channel.send(BOT, CITIZEN, Outbound("通知"))).ok
    assert sms.fake.requests[0].fields == {"To": CITIZEN, "From": FROM_NUMBER, "Body": "通知"}


async def test_wrong_credentials_are_permanent(
    sms: Harness, sms_settings: dict[str, Any], build: Build
) -> None:
    channel = await build({**sms_settings, "auth_token": "not-the-token"})
    delivery = await channel.send(BOT, CITIZEN, Outbound("通知"))
    assert delivery == Delivery(ok=False, error="20003 authentication failed (account SID / auth token)")


async def test_a_long_text_goes_as_several_messages_in_order(sms: Harness) -> None:
    paragraph = (
        "经核查，您反映的村集体资金使用问题基本属实，镇纪委已对相关责任人立案调查，并责令退还违规收取的费用。"
    )
    text = "\n".join(f"{i}. {paragraph}" for i in range(1, 16))
    assert segments(text) > 10

    delivery = await sms.channel.send(BOT, CITIZEN, Outbound(text))

    bodies = [request.fields["Body"] for request in sms.fake.requests]
    assert len(bodies) == 2
    assert all(segments(body) <= 10 for body in bodies)
    assert bodies[0].startswith("1. ") and bodies[1].split(". ", 1)[0].isdigit()  # cut between lines
    assert "\n".join(bodies) == text
    assert delivery == Delivery(ok=True, provider_message_id=sms.fake.created[-1])


async def test_a_timeout_is_retried(sms: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_module, "SEND_TIMEOUT_SECONDS", 0.2)
    await sms.channel.close()  # the next send builds its client with the short timeout
    sms.fake.delay_next(2.0)

    delivery = await sms.channel.send(BOT, CITIZEN, Outbound("通知"))

    assert (delivery.ok, delivery.retry) == (False, True)
    assert delivery.error is not None and delivery.error.startswith("network: ")


async def test_an_unreachable_api_is_retried(sms_settings: dict[str, Any], build: Build) -> None:
    channel = await build({**sms_settings, "api_base": "http://127.0.0.1:9"})
    delivery = await channel.send(BOT, CITIZEN, Outbound("通知"))
    assert (delivery.ok, delivery.retry) == (False, True)
    assert delivery.error is not None and delivery.error.startswith("network: ")


async def test_an_unknown_bot_is_not_retried(sms: Harness) -> None:
    delivery = await sms.channel.send("nobody", CITIZEN, Outbound("通知"))
    assert (delivery.ok, delivery.retry) == (False, False)
    assert sms.fake.requests == []


async def test_an_empty_message_is_not_sent(sms: Harness) -> None:
    delivery = await sms.channel.send(BOT, CITIZEN, Outbound(" \n "))
    assert delivery == Delivery(ok=False, error="empty message")
    assert sms.fake.requests == []


async def test_sends_to_one_number_are_spaced(
    sms: Harness, sms_settings: dict[str, Any], build: Build
) -> None:
    channel = await build({**sms_settings, "max_per_second": 5})  # 0.2 s apart
    other = "+8613900139000"
    # Gaps are read where the fake receives the requests, 10-30 ms later than the limiter let them go on
    # a busy machine, by varying amounts: hence 0.2 s apart and a 50 ms margin. The client's first send
    # (twilio's lazy imports, the connection) goes before, not among, the measured ones.
    assert (await channel.send(BOT, "+8613700137000", Outbound("预热"))).ok

    results = await asyncio.gather(
        channel.send(BOT, CITIZEN, Outbound("一")),
        channel.send(BOT, CITIZEN, Outbound("二")),
        channel.send(BOT, other, Outbound("三")),
        channel.send(BOT, CITIZEN, Outbound("四")),
    )

    assert all(result.ok for result in results)
    to_citizen = sorted(r.at for r in sms.fake.requests if r.fields["To"] == CITIZEN)
    to_other = [r.at for r in sms.fake.requests if r.fields["To"] == other]
    assert len(to_citizen) == 3
    assert all(later - earlier >= 0.15 for earlier, later in itertools.pairwise(to_citizen))
    assert to_other[0] - to_citizen[0] < 0.15  # another number does not wait for this one


async def test_the_dispatcher_sends_an_outbox_row_through_twilio(sms: Harness) -> None:
    async with sms.backend() as b:
        row = await outbox.enqueue(
            b,
            bot_id=BOT,
            channel="sms",
            address=CITIZEN,
            kind="notice",
            outbound=Outbound("您的案件已办结。"),
        )
        row_id = row.id

    assert await Dispatcher(sms.services, {"sms": sms.channel}).run_once() == 1

    assert sms.fake.requests[0].fields["Body"] == "您的案件已办结。"
    async with sms.backend() as b:
        stored = await b.session.get(OutboxMessage, row_id)
        assert stored is not None
        assert (stored.status, stored.provider_message_id) == ("sent", sms.fake.created[0])
