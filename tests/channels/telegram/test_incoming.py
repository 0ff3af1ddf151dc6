"""Incoming: updates built with aiogram's types, posted to the webhook, through the real pipeline.

Each case: the update → the HTTP status, the Inbound the conversation got (or none), and the webhook
response body (the reply as a sendMessage method, a callback answer, or nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bots.pipeline import Services
from channels.telegram.keyboards import as_webhook_reply
from channels.telegram.replies import calls_for
from core.messages import Attachment, Inbound
from tests.channels.telegram import builders as b
from tests.channels.telegram.conftest import (
    BOT,
    CHAT,
    SECRET,
    TOKEN,
    WEBHOOK,
    Pipe,
    count_inbound,
    count_outbox,
    post_update,
)
from tests.fakes.telegram_api import FakeTelegram

STAMP = int(b.SENT_AT.timestamp())


def inbound(message_id: str, **fields: Any) -> Inbound:
    base = Inbound(
        channel="telegram", bot_id=BOT, sender=str(CHAT), message_id=message_id, received_at=b.SENT_AT
    )
    return replace(base, **fields)


@dataclass(frozen=True)
class Case:
    name: str
    update: dict[str, Any]
    inbound: Inbound | None  # what the conversation got; None: the update was acknowledged and ignored
    response: str  # "reply": the reply as sendMessage; "callback": answerCallbackQuery; "empty": {}


CASES = [
    Case("text", b.text(11, "你好"), inbound(f"11:{STAMP}", text="你好"), "reply"),
    Case(
        "odd markup is text",
        b.text(12, "<b>*x*</b> & _y_"),
        inbound(f"12:{STAMP}", text="<b>*x*</b> & _y_"),
        "reply",
    ),
    Case("start command greets", b.text(13, "/start"), inbound(f"13:{STAMP}", text=""), "reply"),
    Case("start with a payload", b.text(14, "/start campaign-7"), inbound(f"14:{STAMP}", text=""), "reply"),
    Case(
        "photo: the largest size, by file id",
        b.photo(15, caption="垃圾堆在河边"),
        inbound(
            f"15:{STAMP}",
            text="垃圾堆在河边",
            attachments=(Attachment(kind="image", url="telegram-file:large-file"),),
        ),
        "reply",
    ),
    Case(
        "location",
        b.location(16),
        inbound(
            f"16:{STAMP}", attachments=(Attachment(kind="location", latitude=34.2658, longitude=108.9541),)
        ),
        "reply",
    ),
    Case(
        "venue: a location with its name",
        b.venue(17),
        inbound(
            f"17:{STAMP}",
            attachments=(
                Attachment(
                    kind="location",
                    latitude=34.2658,
                    longitude=108.9541,
                    label="河西镇卫生院, 河西镇人民路1号",
                ),
            ),
        ),
        "reply",
    ),
    Case(
        "voice note",
        b.voice(18),
        inbound(f"18:{STAMP}", attachments=(Attachment(kind="voice", url="telegram-file:voice-file"),)),
        "reply",
    ),
    Case(
        "document",
        b.document(19),
        inbound(
            f"19:{STAMP}",
            attachments=(Attachment(kind="file", url="telegram-file:doc-file", label="证据.pdf"),),
        ),
        "reply",
    ),
    Case(
        "pressed button: its key as the choice, its label as the text",
        b.press(20, "lookup", (("submit", "投诉举报建议"), ("lookup", "查询办理进度"))),
        inbound("20:cbcq-20", text="查询办理进度", choice="lookup", received_at=None),
        "reply",
    ),
    Case(
        "pressed button under a message Telegram no longer shows",
        b.press(21, "lookup"),
        inbound("21:cbcq-21", text="", choice="lookup", received_at=None),
        "reply",
    ),
    Case("edited message", b.edited(22, "改了"), None, "empty"),
    Case("group message", b.text(23, "你好", chat=b.GROUP, kind="group"), None, "empty"),
    Case("sticker only", b.sticker(24), None, "empty"),
    Case("empty text", b.text(25, "   "), None, "empty"),
    Case(
        "button in a group: answered, not passed on",
        b.press(26, "lookup", (("lookup", "查询"),), chat=b.GROUP, kind="supergroup"),
        None,
        "callback",
    ),
    Case("a button without data", b.press(27, ""), None, "callback"),
    Case("the citizen blocked the bot", b.blocked(28), None, "empty"),
    Case("an update with nothing in it", {"update_id": 29}, None, "empty"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_incoming(
    case: Case, client: TestClient, pipe: Pipe, fake: FakeTelegram, services: Services
) -> None:
    response = await post_update(client, case.update)

    assert response.status == 200
    body = await response.json()
    if case.inbound is None:
        assert pipe.inbound == []
        assert await count_inbound(services) == 0
    else:
        assert pipe.inbound == [case.inbound]
        assert await count_inbound(services) == 1
    if case.response == "reply":
        [replies] = pipe.replies
        assert replies
        calls = calls_for(CHAT, replies)
        assert body == as_webhook_reply(calls[-1])
        assert body["method"] == "sendMessage" and body["chat_id"] == CHAT and "parse_mode" not in body
    elif case.response == "callback":
        query = case.update["callback_query"]["id"]
        assert body == {"method": "answerCallbackQuery", "callback_query_id": query}
    else:
        assert body == {}
    if "callback_query" in case.update and case.response == "reply":
        # The message rode in the response, so the button was answered through the API.
        [answer] = fake.called("answerCallbackQuery")
        assert answer.params == {"callback_query_id": case.update["callback_query"]["id"]}
    assert fake.called("sendMessage") == []  # one message: nothing but the response was needed


async def test_a_pressed_button_gets_a_keyboard_reply_and_no_stored_url_holds_the_token(
    client: TestClient, pipe: Pipe, services: Services
) -> None:
    first = await post_update(client, b.text(1, "你好"))
    keys = [row[0]["callback_data"] for row in (await first.json())["reply_markup"]["inline_keyboard"]]
    assert keys == ["submit", "lookup", "subsidy", "rate", "human"]

    photo = await post_update(client, b.photo(2))
    assert photo.status == 200
    stored = json.dumps([i.to_json() for i in pipe.inbound], ensure_ascii=False)
    assert TOKEN not in stored and TOKEN.split(":")[1] not in stored


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "secret",
    [None, "", "wrong-secret-0123456789abcdef", SECRET[:-1], SECRET + "x", SECRET.upper(), "秘密" * 10],
    ids=["missing", "empty", "wrong", "truncated", "extended", "case", "unicode"],
)
async def test_a_wrong_or_missing_secret_is_403_and_writes_nothing(
    client: TestClient, pipe: Pipe, fake: FakeTelegram, services: Services, secret: str | None
) -> None:
    response = await post_update(client, b.text(1, "你好"), secret=secret)

    assert response.status == 403
    assert await response.json() == {"error": "forbidden"}
    assert pipe.inbound == []
    assert await count_inbound(services) == 0
    assert await count_outbox(services) == 0
    assert fake.calls == []


async def test_the_secret_is_checked_before_the_body_is_read(client: TestClient, pipe: Pipe) -> None:
    response = await client.post(
        WEBHOOK, data=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": "no"}
    )
    assert response.status == 403


@pytest.mark.parametrize("path", ["/webhooks/telegram/other", "/webhooks/telegram/nobody"])
async def test_a_bot_without_telegram_settings_is_not_served(client: TestClient, path: str) -> None:
    response = await client.post(
        path, json=b.text(1, "你好"), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status == 404


# ---------------------------------------------------------------- malformed requests


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "malformed_json"),
        (b"", "malformed_json"),
        (b"\xff\xfe\xfd", "malformed_json"),
        (b'{"update_id": NaN}', "malformed_json"),
        (b"[1, 2]", "invalid_update"),
        (b'"update"', "invalid_update"),
        (b'{"message": {"text": "hi"}}', "invalid_update"),
        (b'{"update_id": "abc"}', "invalid_update"),
        (b'{"update_id": 5, "message": {"message_id": 1, "text": "no chat"}}', "invalid_update"),
        (b'{"update_id": 5, "callback_query": {"id": "1"}}', "invalid_update"),
        (json.dumps(b.location(5, latitude=123.0)).encode(), "invalid_update"),
        (json.dumps(b.press(5, "k" * 65)).encode(), "invalid_update"),
        (json.dumps(b.press(5, "ok", query_id="9" * 65)).encode(), "invalid_update"),
        (b"[" * 100_00 + b"]" * 100_00, "malformed_json"),
    ],
    ids=[
        "broken",
        "empty",
        "not-utf8",
        "nan",
        "array",
        "string",
        "no-update-id",
        "bad-update-id",
        "message-without-chat",
        "callback-without-from",
        "impossible-location",
        "callback-data-too-long",
        "callback-id-too-long",
        "deep-nesting",
    ],
)
async def test_malformed_bodies_are_400_and_write_nothing(
    client: TestClient, pipe: Pipe, services: Services, body: bytes, error: str
) -> None:
    response = await client.post(
        WEBHOOK,
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )

    assert response.status == 400
    assert await response.json() == {"error": error}
    assert pipe.inbound == []
    assert await count_inbound(services) == 0


async def test_an_oversized_body_is_413(client: TestClient, pipe: Pipe) -> None:
    update = b.text(1, "长" * 30_000)  # 90 KB of UTF-8
    response = await post_update(client, update)
    assert response.status == 413
    assert pipe.inbound == []


async def test_an_oversized_body_without_a_length_is_413_too(client: TestClient, pipe: Pipe) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 4096

    response = await client.post(WEBHOOK, data=chunks(), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status == 413
    assert pipe.inbound == []


async def test_odd_unicode_is_stored_not_crashed_on(
    client: TestClient, pipe: Pipe, services: Services
) -> None:
    # A lone surrogate is valid JSON but not UTF-8; a NUL is fine in JSON but not in PostgreSQL text.
    raw = json.dumps(b.text(1, "x")).replace('"text": "x"', '"text": "a\\ud800b\\u0000c \U0001f600 \u202e"')
    response = await client.post(
        WEBHOOK, data=raw.encode(), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )

    assert response.status == 200
    assert pipe.inbound[0].text == "a\ufffdb\ufffdc \U0001f600 \u202e"
    assert await count_inbound(services) == 1
