"""Incoming SMS webhooks: requests signed with twilio's RequestValidator → status, parsed Inbound, TwiML.

Every case runs through the real pipeline and database; the rejected ones must leave no trace at all.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from channels.sms import SmsChannel
from core.messages import Attachment
from storage.models import Conversation, InboundMessage, OutboxMessage
from tests.channels.sms.conftest import (
    CITIZEN,
    INBOUND_PATH,
    PUBLIC,
    Harness,
    MakeClient,
    context_for,
    message,
    messages_of,
    sign,
)
from tests.fakes.twilio_api import AUTH_TOKEN

GREETING = "您好，这里是阳光县政务服务。"
SID = "SM0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Accepted:
    name: str
    form: dict[str, str]
    text: str
    attachments: tuple[Attachment, ...] = ()
    sender: str = CITIZEN
    path: str = INBOUND_PATH
    reply_contains: str = GREETING


ACCEPTED = [
    Accepted("chinese text", message("你好", sid=SID), "你好"),
    Accepted("english text", message("hello", sid=SID), "hello", reply_contains="1 "),
    Accepted(
        "two media, an image and a voice memo",
        message(
            "看照片",
            sid=SID,
            NumMedia="2",
            MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            MediaContentType0="image/jpeg",
            MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
            MediaContentType1="audio/amr",
        ),
        "看照片",
        (
            Attachment("image", url="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
            Attachment("file", url="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
        ),
    ),
    Accepted(
        "a photo without text",
        message(
            "", sid=SID, NumMedia="1", MediaUrl0="https://media.example/1.png", MediaContentType0="image/png"
        ),
        "",
        (Attachment("image", url="https://media.example/1.png"),),
    ),
    Accepted(
        "media URLs that are not web addresses are dropped",
        message("图", sid=SID, NumMedia="1", MediaUrl0="javascript:alert(1)", MediaContentType0="image/png"),
        "图",
    ),
    Accepted(
        "control characters are removed, a NUL included",
        message("你\x00好\x07\r\n再见", sid=SID),
        "你好\n再见",
    ),
    Accepted(
        "odd Unicode", message("\u202e👍🏽\ufffd\U0010fffd 𠮷", sid=SID), "\u202e👍🏽\ufffd\U0010fffd 𠮷"
    ),
    Accepted(
        "the legacy SmsMessageSid alone",
        {k: v for k, v in message("你好", sid=SID).items() if k != "MessageSid"},
        "你好",
    ),
    Accepted(
        "a query string is part of the signed URL",
        message("你好", sid=SID),
        "你好",
        path=INBOUND_PATH + "?source=number%201",
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
async def test_incoming(sms: Harness, case: Accepted) -> None:
    response = await sms.post(case.form, path=case.path)

    assert response.status == 200, await response.text()
    assert response.content_type == "text/xml"
    [inbound] = sms.handled
    assert (inbound.channel, inbound.bot_id, inbound.sender, inbound.message_id) == (
        "sms",
        "county",
        case.sender,
        SID,
    )
    assert inbound.text == case.text
    assert inbound.attachments == case.attachments
    assert inbound.choice is None
    replies = messages_of(await response.text())
    assert replies and any(case.reply_contains in reply for reply in replies)
    assert await sms.count(InboundMessage) == 1


@dataclass(frozen=True)
class Refused:
    name: str
    status: int
    form: dict[str, str] = field(default_factory=lambda: message("举报", sid=SID))
    path: str = INBOUND_PATH
    signature: str | None = None  # None: a correct signature for `signed_form` on `signed_url`
    signed_form: dict[str, str] | None = None
    signed_url: str | None = None
    token: str | None = None
    raw: bytes | None = None  # sent as the body instead of `form`
    chunked: bool = False  # `raw` streamed without a Content-Length
    content_type: str = "application/x-www-form-urlencoded"
    headers: dict[str, str] = field(default_factory=dict)


OTHER_TOKEN = "someone-elses-auth-token-0123456789"
REFUSED = [
    Refused("unsigned", 403, signature=""),
    Refused("garbage signature", 403, signature="bm90IGEgc2lnbmF0dXJl"),
    Refused("signed with another auth token", 403, token=OTHER_TOKEN),
    Refused("signature of another body", 403, signed_form=message("你好", sid=SID)),
    Refused(
        "signature of the same body plus a field", 403, signed_form={**message("举报", sid=SID), "X": "1"}
    ),
    Refused("signature for the URL the Host header names", 403, signed_url="http://127.0.0.1" + INBOUND_PATH),
    Refused("signature for another public host", 403, signed_url="https://evil.example" + INBOUND_PATH),
    Refused("signature for another bot's URL", 403, signed_url=PUBLIC + "/webhooks/sms/other"),
    Refused(
        "signature without the query string",
        403,
        path=INBOUND_PATH + "?x=1",
        signed_url=PUBLIC + INBOUND_PATH,
    ),
    Refused("unknown bot", 404, path="/webhooks/sms/nobody"),
    Refused("not UTF-8", 400, raw=b"Body=%E4%BD&From=%2B1", signature="x"),
    Refused("raw bytes that are not UTF-8", 400, raw=b"Body=\xff\xfe&From=1", signature="x"),
    Refused("a field without '='", 400, raw=b"Body&From=1", signature="x"),
    Refused(
        "JSON instead of a form", 400, raw=b'{"Body": "hi"}', content_type="application/json", signature="x"
    ),
    Refused("too many fields", 400, raw=b"&".join(b"f%d=1" % i for i in range(300)), signature="x"),
    Refused("no MessageSid", 400, form={k: v for k, v in message("举报").items() if "Sid" not in k}),
    Refused("malformed MessageSid", 400, form=message("举报", sid="SM' OR 1=1")),
    Refused("no From", 400, form={k: v for k, v in message("举报", sid=SID).items() if k != "From"}),
    Refused("From too long", 400, form=message("举报", sid=SID, sender="+1" * 40)),
    Refused("NumMedia not a number", 400, form=message("举报", sid=SID, NumMedia="two")),
    Refused("NumMedia absurdly long", 400, form=message("举报", sid=SID, NumMedia="9" * 5000)),
    Refused("body over 64 KiB", 413, form=message("举" * 30_000, sid=SID)),
    Refused("declared length over 64 KiB", 413, raw=b"x" * (2 * 1024 * 1024), signature="x"),
    Refused("streamed past 64 KiB", 413, raw=b"Body=" + b"x" * (65 * 1024), chunked=True, signature="x"),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
async def test_refused_requests_touch_nothing(sms: Harness, case: Refused) -> None:
    if case.raw is not None:
        body: Any = _stream(case.raw) if case.chunked else io.BytesIO(case.raw)
        headers = {"Content-Type": case.content_type, "X-Twilio-Signature": case.signature or ""}
    else:
        body = case.form
        signature = case.signature
        if signature is None:
            signature = sign(
                case.signed_url or PUBLIC + case.path, case.signed_form or case.form, case.token or AUTH_TOKEN
            )
        headers = {"X-Twilio-Signature": signature}
    if not headers["X-Twilio-Signature"]:
        del headers["X-Twilio-Signature"]  # no signature at all
    response = await sms.client.post(case.path, data=body, headers={**headers, **case.headers})

    assert response.status == case.status, await response.text()
    assert sms.handled == []
    assert sms.fake.requests == []
    for model in (InboundMessage, Conversation, OutboxMessage):
        assert await sms.count(model) == 0


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


async def test_the_same_webhook_twice_gives_one_inbound_row_and_the_same_twiml(sms: Harness) -> None:
    form = message("你好", sid=SID)
    first = await sms.post(form)
    second = await sms.post(form)

    assert (first.status, second.status) == (200, 200)
    assert await first.text() == await second.text()
    assert await sms.count(InboundMessage) == 1


async def test_several_replies_share_one_sms_when_that_costs_no_more(sms: Harness) -> None:
    response = await sms.post(message("你好", sid=SID))
    # The greeting and the numbered menu are two replies; together they still fit one SMS.
    [reply] = messages_of(await response.text())
    assert reply.startswith(GREETING)
    assert "1 " in reply and "\n" in reply


async def test_without_a_public_base_url_the_request_url_is_signed(
    aiohttp_client: MakeClient, pipeline: Any, services: Any, sms_settings: dict[str, Any]
) -> None:
    channel = SmsChannel()
    context = context_for(channel, pipeline, services, sms_settings, public_base_url="")
    app = web.Application()
    app.add_routes(channel.routes(context))
    client = await aiohttp_client(app)
    form = message("你好", sid=SID)

    public = await client.post(
        INBOUND_PATH, data=form, headers={"X-Twilio-Signature": sign(PUBLIC + INBOUND_PATH, form)}
    )
    direct_url = str(client.make_url(INBOUND_PATH))
    direct = await client.post(
        INBOUND_PATH, data=form, headers={"X-Twilio-Signature": sign(direct_url, form)}
    )

    assert public.status == 403
    assert direct.status == 200


async def test_a_bots_own_public_base_url_wins(
    aiohttp_client: MakeClient, pipeline: Any, services: Any, sms_settings: dict[str, Any]
) -> None:
    channel = SmsChannel()
    settings = {**sms_settings, "public_base_url": "https://sms.county.example/hooks/"}
    context = context_for(channel, pipeline, services, settings)
    app = web.Application()
    app.add_routes(channel.routes(context))
    client = await aiohttp_client(app)
    form = message("你好", sid=SID)

    general = await client.post(
        INBOUND_PATH, data=form, headers={"X-Twilio-Signature": sign(PUBLIC + INBOUND_PATH, form)}
    )
    own = await client.post(
        INBOUND_PATH,
        data=form,
        headers={"X-Twilio-Signature": sign("https://sms.county.example/hooks" + INBOUND_PATH, form)},
    )

    assert general.status == 403
    assert own.status == 200


async def test_a_bot_without_sms_settings_is_not_served(
    aiohttp_client: MakeClient, pipeline: Any, services: Any, sms_settings: dict[str, Any]
) -> None:
    channel = SmsChannel()
    context = context_for(channel, pipeline, services, sms_settings, settings={})
    app = web.Application()
    app.add_routes(channel.routes(context))
    client = await aiohttp_client(app)
    form = message("你好", sid=SID)

    response = await client.post(
        INBOUND_PATH, data=form, headers={"X-Twilio-Signature": sign(PUBLIC + INBOUND_PATH, form)}
    )
    assert response.status == 404
