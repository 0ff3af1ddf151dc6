"""The web chat's HTTP contract, with the pipeline and the mailbox replaced by recording fakes."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from channels.base import ChannelContext
from channels.webchat import Persona, WebChatChannel
from core.messages import Capabilities, Choice, Inbound, Outbound

SESSION = "0123456789abcdef0123456789abcdef"
STATIC = Path(__file__).resolve().parents[2] / "channels" / "webchat" / "static"
SMS = Capabilities(max_length=1600, buttons=False, concise=True)

MakeClient = Callable[[web.Application], Awaitable[TestClient]]


class FakeMailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[int, Outbound]] = []
        self.asked: list[tuple[str, str, str, int]] = []

    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        self.asked.append((bot_id, channel, address, after_id))
        return [(row_id, message) for row_id, message in self.messages if row_id > after_id]


class Recorder:
    """Stands in for the pipeline: answers with the text it got, plus two choices."""

    def __init__(self) -> None:
        self.inbound: list[Inbound] = []

    async def __call__(self, inbound: Inbound) -> list[Outbound]:
        self.inbound.append(inbound)
        return [Outbound(text=f"you said: {inbound.text}", choices=(Choice("yes", "是"), Choice("no", "否")))]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def mailbox() -> FakeMailbox:
    return FakeMailbox()


@pytest.fixture
async def client(aiohttp_client: MakeClient, recorder: Recorder, mailbox: FakeMailbox) -> TestClient:
    channel = WebChatChannel(personas={"demo-phone": Persona("sms", "+8613800138000", SMS)}, max_text=50)
    app = web.Application(client_max_size=1024)
    app.add_routes(channel.routes(ChannelContext(bot_ids=("county",), handle=recorder, mailbox=mailbox)))
    return await aiohttp_client(app)


def message(**fields: Any) -> dict[str, Any]:
    return {"session": SESSION, "text": "你好", "client_message_id": "m1", **fields}


async def test_a_message_goes_through_the_handler_and_its_replies_come_back(
    client: TestClient, recorder: Recorder
) -> None:
    response = await client.post("/chat/county/api/messages", json=message(language="zh_Hant"))

    assert response.status == 200
    assert await response.json() == {
        "session": SESSION,
        "replies": [
            {
                "text": "you said: 你好",
                "choices": [{"key": "yes", "label": "是"}, {"key": "no", "label": "否"}],
            }
        ],
    }
    [inbound] = recorder.inbound
    assert (inbound.channel, inbound.bot_id, inbound.sender) == ("webchat", "county", SESSION)
    assert inbound.language == "zh_Hant"
    # Prefixed with the session: another visitor sending "m1" must not replay this visitor's answer.
    assert inbound.message_id == f"{SESSION}:m1"


async def test_a_pressed_button_sends_its_key_with_its_label(client: TestClient, recorder: Recorder) -> None:
    response = await client.post("/chat/county/api/messages", json=message(text="是", choice="yes"))
    assert response.status == 200
    assert (recorder.inbound[0].text, recorder.inbound[0].choice) == ("是", "yes")


async def test_the_server_makes_a_session_when_the_page_has_none(
    client: TestClient, recorder: Recorder
) -> None:
    body = message()
    del body["session"]
    response = await client.post("/chat/county/api/messages", json=body)
    assert response.status == 200
    session = (await response.json())["session"]
    assert re.fullmatch(r"[0-9a-f]{32}", session)
    assert recorder.inbound[0].sender == session


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"session": "not-a-session"}, "bad_session"),
        ({"session": SESSION.upper()}, "bad_session"),
        ({"session": SESSION + "00"}, "bad_session"),
        ({"session": 12345}, "bad_session"),
        ({"client_message_id": None}, "bad_client_message_id"),
        ({"client_message_id": "has space"}, "bad_client_message_id"),
        ({"language": "fr"}, "bad_language"),
        ({"choice": "<b>"}, "bad_choice"),
        ({"text": 5}, "bad_text"),
        ({"text": "   "}, "empty_message"),
        ({"persona": "someone-else"}, "unknown_persona"),
    ],
)
async def test_what_the_page_could_not_have_sent_is_refused(
    client: TestClient, recorder: Recorder, fields: dict[str, Any], code: str
) -> None:
    response = await client.post("/chat/county/api/messages", json=message(**fields))
    assert response.status == 400
    assert await response.json() == {"error": code}
    assert recorder.inbound == []


async def test_a_text_over_the_limit_is_refused_with_the_limit(
    client: TestClient, recorder: Recorder
) -> None:
    response = await client.post("/chat/county/api/messages", json=message(text="字" * 51))
    assert response.status == 400
    assert await response.json() == {"error": "text_too_long", "limit": 50}
    assert recorder.inbound == []


async def test_malformed_json_is_a_400_not_a_500(client: TestClient) -> None:
    for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b""):
        response = await client.post(
            "/chat/county/api/messages", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, body
        assert (await response.json())["error"] in {"malformed_json", "expected_json_object"}


async def test_a_body_over_the_app_limit_is_413(client: TestClient) -> None:
    response = await client.post("/chat/county/api/messages", json=message(text="x" * 2000))
    assert response.status == 413
    assert await response.json() == {"error": "body_too_large"}


async def test_markup_comes_back_as_the_same_plain_text(client: TestClient) -> None:
    response = await client.post("/chat/county/api/messages", json=message(text="<script>alert(1)</script>"))
    assert response.content_type == "application/json"
    assert (await response.json())["replies"][0]["text"] == "you said: <script>alert(1)</script>"


async def test_an_unknown_bot_is_404(client: TestClient) -> None:
    assert (await client.post("/chat/town/api/messages", json=message())).status == 404
    assert (await client.get("/chat/town")).status == 404
    assert (await client.get(f"/chat/town/api/messages?session={SESSION}")).status == 404


async def test_the_poll_returns_mailbox_messages_after_the_cursor(
    client: TestClient, mailbox: FakeMailbox
) -> None:
    mailbox.messages = [(7, Outbound("工作人员：您好")), (9, Outbound("请选择", (Choice("a", "甲"),)))]

    response = await client.get(f"/chat/county/api/messages?session={SESSION}&after=7")

    assert response.status == 200
    assert await response.json() == {
        "messages": [{"id": 9, "text": "请选择", "choices": [{"key": "a", "label": "甲"}]}]
    }
    assert mailbox.asked == [("county", "webchat", SESSION, 7)]


@pytest.mark.parametrize(
    "query", ["", "session=abc", f"session={SESSION}&after=-1", f"session={SESSION}&after=x"]
)
async def test_a_poll_with_a_bad_session_or_cursor_is_400(
    client: TestClient, mailbox: FakeMailbox, query: str
) -> None:
    response = await client.get(f"/chat/county/api/messages?{query}")
    assert response.status == 400
    assert mailbox.asked == []


async def test_a_persona_speaks_as_its_address_with_its_channel_capabilities(
    client: TestClient, recorder: Recorder, mailbox: FakeMailbox
) -> None:
    response = await client.post("/chat/county/api/messages", json=message(text="1", persona="demo-phone"))

    assert response.status == 200
    # SMS has no buttons: the choices arrive as numbered lines in the text.
    assert (await response.json())["replies"] == [{"text": "you said: 1\n1 是 2 否", "choices": []}]
    [inbound] = recorder.inbound
    assert (inbound.channel, inbound.sender) == ("sms", "+8613800138000")
    assert inbound.message_id == f"demo-phone:{SESSION}:m1"

    await client.get(f"/chat/county/api/messages?session={SESSION}&persona=demo-phone")
    assert mailbox.asked == [("county", "sms", "+8613800138000", 0)]


async def test_config_names_the_personas_and_limits(client: TestClient) -> None:
    response = await client.get("/chat/county/api/config")
    assert await response.json() == {
        "personas": ["demo-phone"],
        "languages": ["en", "zh_Hans", "zh_Hant"],
        "max_text": 50,
        "poll_ms": 2000,
    }


async def test_the_page_and_its_files_are_served_locally_with_a_strict_policy(client: TestClient) -> None:
    page = await client.get("/chat/county")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert 'lang="zh-Hans"' in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    for name, content_type in [
        ("chat.js", "text/javascript"),
        ("chat.css", "text/css"),
        ("ui-text.json", "application/json"),
    ]:
        response = await client.get(f"/chat/_static/{name}")
        assert response.status == 200
        assert response.content_type == content_type
    assert (await client.get("/chat/_static/index.html")).status == 404
    assert (await client.get("/chat/_static/..%2fapi.py")).status == 404


def test_the_page_loads_nothing_from_elsewhere_and_never_renders_html() -> None:
    for path in STATIC.iterdir():
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", source, re.IGNORECASE), path.name
    script = (STATIC / "chat.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert "textContent" in script


def test_every_page_language_has_the_same_strings() -> None:
    texts = json.loads((STATIC / "ui-text.json").read_text(encoding="utf-8"))
    assert set(texts) == {"zh_Hans", "zh_Hant", "en"}
    keys = {language: set(strings) for language, strings in texts.items()}
    assert keys["zh_Hant"] == keys["zh_Hans"] == keys["en"]


async def test_sending_leaves_the_message_for_the_page() -> None:
    delivery = await WebChatChannel().send("county", SESSION, Outbound("hi"))
    assert delivery.ok
