"""Incoming callbacks, as a table: the request WeChat sends → status, the Inbound handed on, the reply.

Requests are signed with the algorithm wechatpy verifies and encrypted by wechatpy's WeChatCrypto; the
webhook runs over the real pipeline and database, so "nothing touched" is checked in the tables.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bots.pipeline import Services
from channels.wechat.messages import passive_text
from core import inbox
from core.messages import Attachment
from tests.channels.wechat.conftest import BOT, MakeWebhook, count_inbound, inbound_rows
from tests.channels.wechat.wire import (
    ACCOUNT,
    AES_KEY,
    NONCE,
    OPENID,
    SAMPLE_AES_KEY,
    SAMPLE_APP_ID,
    SAMPLE_BODY,
    SAMPLE_MSG_SIGNATURE,
    SAMPLE_NONCE,
    SAMPLE_TIMESTAMP,
    SAMPLE_TOKEN,
    TOKEN,
    Callback,
    encrypted,
    fields_of,
    message_xml,
    now,
    plain,
    read_reply,
    resigned,
    sign,
)

CREATED = 1772413200  # 2026-03-02 09:00 in Beijing
MSG_ID = "24417306311234567"


def text(content: str = "你好", **extra: object) -> dict[str, object]:
    return fields_of("text", **{"Content": content, "MsgId": MSG_ID, "CreateTime": CREATED, **extra})


def event(name: str, **extra: object) -> dict[str, object]:
    return fields_of("event", **{"Event": name, "CreateTime": CREATED, **extra})


# ---------------------------------------------------------------- accepted messages


@dataclass(frozen=True)
class Accepted:
    name: str
    mode: str
    callback: Callable[[], Callback]
    text: str
    message_id: str = MSG_ID
    attachments: tuple[Attachment, ...] = ()


ACCEPTED = [
    Accepted("text, plain mode", "plain", lambda: plain(text("举报")), "举报"),
    Accepted("text, compatible mode, unencrypted", "compatible", lambda: plain(text("举报")), "举报"),
    Accepted(
        "text, compatible mode, encrypted (plaintext fields alongside)",
        "compatible",
        lambda: encrypted(text("举报"), compatible=True),
        "举报",
    ),
    Accepted("text, safe mode", "safe", lambda: encrypted(text("查询")), "查询"),
    Accepted(
        "odd unicode survives",
        "safe",
        lambda: encrypted(text("🙂 e\u0301 \u202eRTL\u202c 𠀀 \ufffd ]]> <b>&amp;")),
        "🙂 e\u0301 \u202eRTL\u202c 𠀀 \ufffd ]]> <b>&amp;",
    ),
    Accepted(
        "image",
        "plain",
        lambda: plain(
            fields_of(
                "image", PicUrl="http://mmbiz.qpic.cn/abc", MediaId="m-1", MsgId=MSG_ID, CreateTime=CREATED
            )
        ),
        "",
        attachments=(Attachment("image", url="http://mmbiz.qpic.cn/abc"),),
    ),
    Accepted(
        "voice with transcript",
        "safe",
        lambda: encrypted(
            fields_of(
                "voice",
                MediaId="m-2",
                Format="amr",
                Recognition="路灯坏了。",
                MsgId=MSG_ID,
                CreateTime=CREATED,
            )
        ),
        "路灯坏了。",
        attachments=(Attachment("voice", transcript="路灯坏了。"),),
    ),
    Accepted(
        "voice without transcript: handed on so the conversation answers it",
        "plain",
        lambda: plain(fields_of("voice", MediaId="m-3", Format="amr", MsgId=MSG_ID, CreateTime=CREATED)),
        "",
        attachments=(Attachment("voice"),),
    ),
    Accepted(
        "location",
        "plain",
        lambda: plain(
            fields_of(
                "location",
                Location_X="34.746611",
                Location_Y="113.625328",
                Scale="15",
                Label="城关镇东街口",
                MsgId=MSG_ID,
                CreateTime=CREATED,
            )
        ),
        "",
        attachments=(Attachment("location", latitude=34.746611, longitude=113.625328, label="城关镇东街口"),),
    ),
    Accepted(
        "video: the citizen wrote, the conversation answers",
        "plain",
        lambda: plain(fields_of("video", MediaId="v", ThumbMediaId="t", MsgId=MSG_ID, CreateTime=CREATED)),
        "",
    ),
    Accepted(
        "subscribe: an empty first message, so the engine greets with the menu",
        "plain",
        lambda: plain(event("subscribe", EventKey="")),
        "",
        message_id=f"{OPENID}:{CREATED}:subscribe",
    ),
    Accepted(
        "subscribe by scanning a QR code",
        "safe",
        lambda: encrypted(event("subscribe", EventKey="qrscene_123", Ticket="T")),
        "",
        message_id=f"{OPENID}:{CREATED}:subscribe_scan",
    ),
    Accepted(
        "menu click: the key becomes the words for the service",
        "plain",
        lambda: plain(event("CLICK", EventKey="lookup")),
        "查询进度",
        message_id=f"{OPENID}:{CREATED}:click",
    ),
    Accepted(
        "menu click on 人工",
        "safe",
        lambda: encrypted(event("CLICK", EventKey="human")),
        "人工",
        message_id=f"{OPENID}:{CREATED}:click",
    ),
    Accepted(
        "menu click with an operator's own key: passed on as typed",
        "plain",
        lambda: plain(event("CLICK", EventKey="低保")),
        "低保",
        message_id=f"{OPENID}:{CREATED}:click",
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
async def test_accepted(case: Accepted, make_webhook: MakeWebhook, services: Services) -> None:
    webhook = await make_webhook(mode=case.mode)
    callback = case.callback()

    status, content_type, body = await webhook.post(callback)

    assert status == 200, body
    [inbound] = webhook.handled.inbound
    assert (inbound.channel, inbound.bot_id, inbound.sender) == ("wechat", BOT, OPENID)
    assert inbound.message_id == case.message_id
    assert inbound.text == case.text
    assert inbound.attachments == case.attachments
    assert inbound.choice is None
    assert inbound.received_at == datetime.fromtimestamp(CREATED, UTC)
    assert webhook.handled.budgets == [4.0]

    [answer] = webhook.handled.answers
    assert answer, "the engine answers within the budget: a passive reply"
    assert content_type == "application/xml"
    was_encrypted = callback.query.get("encrypt_type") == "aes"
    assert ("<Encrypt>" in body) == was_encrypted
    reply = read_reply(body)
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (OPENID, ACCOUNT, "text")
    assert reply["Content"] == passive_text(answer, webhook.channel.capabilities)
    # Kept as a keyed hash: an event's id is made of the openid, which must not be readable at rest.
    stored = [row.provider_message_id for row in await inbound_rows(services)]
    assert stored == [inbox.message_key(services.keyring, case.message_id)]
    assert OPENID not in stored[0]


async def test_the_greeting_shows_the_menu_as_numbered_lines(make_webhook: MakeWebhook) -> None:
    webhook = await make_webhook(mode="plain")
    _, _, body = await webhook.post(plain(event("subscribe", EventKey="")))
    content = read_reply(body)["Content"]
    assert "阳光县政务服务" in content
    assert [line.split(" ")[0] for line in content.splitlines()[-5:]] == ["1", "2", "3", "4", "5"]


# ---------------------------------------------------------------- ignored events


@pytest.mark.parametrize(
    "fields",
    [
        event("unsubscribe"),
        event("VIEW", EventKey="https://example.org/"),
        event("LOCATION", Latitude="23.1", Longitude="113.3", Precision="119.3"),
        event("TEMPLATESENDJOBFINISH", Status="success"),
    ],
    ids=["unsubscribe", "view", "location report", "template job"],
)
async def test_events_that_are_not_a_citizen_speaking_get_success(
    fields: dict[str, object], make_webhook: MakeWebhook, services: Services
) -> None:
    webhook = await make_webhook(mode="safe")
    status, content_type, body = await webhook.post(encrypted(fields))
    assert (status, content_type, body) == (200, "text/plain", "success")
    assert webhook.handled.inbound == []
    assert await count_inbound(services) == 0


# ---------------------------------------------------------------- refused requests


def forged(callback: Callback) -> Callback:
    return Callback({**callback.query, "signature": "0" * 40}, callback.body)


def without(callback: Callback, *names: str) -> Callback:
    return Callback({k: v for k, v in callback.query.items() if k not in names}, callback.body)


def stale() -> Callback:
    return plain(text(), timestamp=str(int(now()) - 3600))


def ciphertext(cut: Callable[[str], str]) -> Callable[[], Callback]:
    """A properly signed callback whose ciphertext was tampered with by someone holding the token."""

    def make() -> Callback:
        good = encrypted(text())
        original = good.body if isinstance(good.body, str) else good.body.decode()
        encrypt = original.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        return resigned(good, cut(encrypt))

    return make


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&d;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"
)


def signed_body(body: str | bytes) -> Callable[[], Callback]:
    def make() -> Callback:
        return Callback(plain(text()).query, body)

    return make


@dataclass(frozen=True)
class Refused:
    name: str
    mode: str
    callback: Callable[[], Callback]
    status: int | tuple[int, ...]
    bot: str = BOT


REFUSED = [
    # not authenticated: 403
    Refused("no signature at all", "plain", lambda: without(plain(text()), "signature"), 403),
    Refused("no timestamp", "plain", lambda: without(plain(text()), "timestamp"), 403),
    Refused("forged signature", "plain", lambda: forged(plain(text())), 403),
    Refused("signed with another token", "plain", lambda: plain(text(), token="someoneElse1"), 403),
    Refused("forged signature on an encrypted message", "safe", lambda: forged(encrypted(text())), 403),
    Refused("a signed URL replayed an hour later", "plain", stale, 403),
    Refused("plain body to an account in safe mode", "safe", lambda: plain(text()), 403),
    Refused("msg_signature missing", "safe", lambda: without(encrypted(text()), "msg_signature"), 403),
    Refused(
        "msg_signature forged",
        "safe",
        lambda: Callback({**encrypted(text()).query, "msg_signature": "f" * 40}, encrypted(text()).body),
        403,
    ),
    Refused("msg_signature from another token", "safe", lambda: encrypted(text(), token="someoneElse1"), 403),
    Refused(
        "encrypted for another app id (wrong appid)",
        "safe",
        lambda: encrypted(text(), app_id="wx9999999999999999"),
        403,
    ),
    # Decrypting with the wrong key gives random bytes: an app id that does not match, or no message.
    Refused("encrypted with another key", "safe", lambda: encrypted(text(), key=SAMPLE_AES_KEY), (400, 403)),
    # authenticated but unreadable: 400
    Refused("truncated ciphertext", "safe", ciphertext(lambda e: e[:40]), 400),
    Refused(
        "ciphertext cut to whole blocks",
        "safe",
        ciphertext(lambda e: base64.b64encode(base64.b64decode(e)[:16]).decode()),
        400,
    ),
    Refused("ciphertext that is not base64", "safe", ciphertext(lambda e: "%%%not base64%%%"), 400),
    Refused("empty ciphertext", "safe", ciphertext(lambda e: " "), 400),
    Refused("billion laughs", "plain", signed_body(BILLION_LAUGHS), 400),
    Refused("external entity (XXE)", "plain", signed_body(XXE), 400),
    Refused("billion laughs inside the encryption", "safe", lambda: encrypted(BILLION_LAUGHS), 400),
    Refused("XXE inside the encryption", "safe", lambda: encrypted(XXE), 400),
    Refused("envelope with a DOCTYPE", "safe", lambda: resigned_body_with_doctype(), 400),
    Refused("not XML", "plain", signed_body("hello"), 400),
    Refused("empty body", "plain", signed_body(""), 400),
    Refused("not UTF-8", "plain", signed_body(message_xml(text()).encode("utf-16")), 400),
    Refused("an empty <xml/>", "plain", signed_body("<xml/>"), 400),
    Refused("another root element", "plain", signed_body("<msg><MsgType>text</MsgType></msg>"), 400),
    Refused("no MsgType", "plain", lambda: plain({k: v for k, v in text().items() if k != "MsgType"}), 400),
    Refused(
        "no FromUserName",
        "plain",
        lambda: plain({k: v for k, v in text().items() if k != "FromUserName"}),
        400,
    ),
    Refused("FromUserName with markup", "plain", lambda: plain(text(FromUserName="o1]]><x>")), 400),
    Refused(
        "Content is an element",
        "plain",
        signed_body(
            message_xml(text()).replace("<Content><![CDATA[你好]]></Content>", "<Content><b>x</b></Content>")
        ),
        400,
    ),
    Refused(
        "two MsgTypes",
        "plain",
        signed_body(message_xml(text()).replace("</xml>", "<MsgType>image</MsgType></xml>")),
        400,
    ),
    Refused("CreateTime not a number", "plain", lambda: plain(text(CreateTime="soon")), 400),
    Refused("MsgId not a number", "plain", lambda: plain(text(MsgId="12a")), 400),
    Refused(
        "latitude not a number",
        "plain",
        lambda: plain(fields_of("location", Location_X="nan", Location_Y="1", Label="", MsgId=MSG_ID)),
        400,
    ),
    Refused("click without a key", "plain", lambda: plain(event("CLICK", EventKey="")), 400),
    Refused("nested absurdly deep", "plain", signed_body("<xml>" + "<a>" * 50 + "</a>" * 50 + "</xml>"), 400),
    Refused(
        "unknown encrypt_type",
        "compatible",
        lambda: Callback({**plain(text()).query, "encrypt_type": "rot13"}, plain(text()).body),
        400,
    ),
    Refused("encrypted message to an account without a key", "plain", lambda: encrypted(text()), 400),
    # size and addressing
    Refused("body over 64 KiB", "plain", lambda: plain(text("长" * 30_000)), 413),
    Refused("unknown bot", "plain", lambda: plain(text()), 404, bot="nobody"),
    Refused("bot without an official account", "plain", lambda: plain(text()), 404, bot="unconfigured"),
]


def resigned_body_with_doctype() -> Callback:
    good = encrypted(text())
    body = good.body if isinstance(good.body, str) else good.body.decode()
    return Callback(good.query, '<!DOCTYPE xml [<!ENTITY e "x">]>' + body)


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
async def test_refused(case: Refused, make_webhook: MakeWebhook, services: Services) -> None:
    overrides: dict[str, object] = {"mode": case.mode}
    if case.name == "encrypted message to an account without a key":
        overrides["encoding_aes_key"] = None
    webhook = await make_webhook(**overrides)

    status, content_type, body = await webhook.post(case.callback(), bot=case.bot)

    assert status in (case.status if isinstance(case.status, tuple) else (case.status,)), body
    assert content_type == "text/plain"
    assert webhook.handled.inbound == [], "nothing unauthenticated or unreadable reaches the pipeline"
    assert await count_inbound(services) == 0


# ---------------------------------------------------------------- Tencent's sample vector


async def test_tencents_published_sample_decrypts_and_gets_an_encrypted_reply(
    make_webhook: MakeWebhook, services: Services
) -> None:
    """Token QDG6eK, appid wx5823bf96d3bd56c7 and the EncodingAESKey of Tencent's sample code, with its
    msg_signature, timestamp, nonce and ciphertext as published. The sample gives no plain `signature`
    (every callback also carries one), so that one is computed with the same algorithm. The sample's
    timestamp is from 2014: the freshness check is off for this bot."""
    webhook = await make_webhook(
        token=SAMPLE_TOKEN,
        app_id=SAMPLE_APP_ID,
        encoding_aes_key=SAMPLE_AES_KEY,
        mode="safe",
        timestamp_tolerance_seconds=0,
    )
    query = {
        "signature": sign(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE),
        "timestamp": SAMPLE_TIMESTAMP,
        "nonce": SAMPLE_NONCE,
        "encrypt_type": "aes",
        "msg_signature": SAMPLE_MSG_SIGNATURE,
    }

    status, _, body = await webhook.post(Callback(query, SAMPLE_BODY))

    assert status == 200, body
    [inbound] = webhook.handled.inbound
    # The sample's plaintext: a text "hello" from "mycreate", MsgId 4561255354251345929, at 1409659813.
    assert (inbound.sender, inbound.text, inbound.message_id) == ("mycreate", "hello", "4561255354251345929")
    assert inbound.received_at == datetime.fromtimestamp(1409659813, UTC)
    reply = read_reply(body, token=SAMPLE_TOKEN, key=SAMPLE_AES_KEY, app_id=SAMPLE_APP_ID)
    assert (reply["ToUserName"], reply["FromUserName"]) == ("mycreate", SAMPLE_APP_ID)
    stored = [row.provider_message_id for row in await inbound_rows(services)]
    assert stored == [inbox.message_key(services.keyring, "4561255354251345929")]

    # The same vector with one character of the signature changed is refused, and nothing more is stored.
    query["msg_signature"] = SAMPLE_MSG_SIGNATURE[:-1] + "7"
    status, _, _ = await webhook.post(Callback(query, SAMPLE_BODY))
    assert status == 403
    assert await count_inbound(services) == 1


# ---------------------------------------------------------------- server verification


@pytest.mark.parametrize(
    ("query", "bot", "status", "body"),
    [
        ({"signature": "GOOD", "echostr": "5837397936484923"}, BOT, 200, "5837397936484923"),
        ({"signature": "0" * 40, "echostr": "5837397936484923"}, BOT, 403, "forbidden"),
        ({"echostr": "5837397936484923"}, BOT, 403, "forbidden"),
        ({"signature": "GOOD"}, BOT, 400, "bad request"),
        ({"signature": "GOOD", "echostr": "x"}, "nobody", 404, "not found"),
    ],
    ids=["good", "forged", "unsigned", "no echostr", "unknown bot"],
)
async def test_server_verification(
    query: dict[str, str], bot: str, status: int, body: str, make_webhook: MakeWebhook
) -> None:
    webhook = await make_webhook(mode="safe")
    timestamp = now()
    full = {"timestamp": timestamp, "nonce": NONCE, **query}
    if full.get("signature") == "GOOD":
        full["signature"] = sign(TOKEN, timestamp, NONCE)
    response = await webhook.client.get(f"/webhooks/wechat/{bot}", params=full)
    assert (response.status, await response.text()) == (status, body)
    assert response.content_type == "text/plain"


def test_the_test_key_is_a_real_encoding_aes_key() -> None:
    assert len(AES_KEY) == 43 and len(base64.b64decode(AES_KEY + "=")) == 32
