"""The whole service over HTTP: the demo deployment, its web chat, a staff reply reaching the page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bots import demo
from bots.app import build_app
from bots.bootstrap import Deployment, bootstrap
from bots.settings import Settings
from conversations import texts
from core import handoff
from core.clock import FixedClock
from storage.database import Database
from storage.models import OutboxMessage, Survey
from tests.conftest import TEST_SECRET

MakeClient = Callable[[web.Application], Awaitable[TestClient]]
SESSION = "5f0c6d1e2a3b4c5d6e7f8091a2b3c4d5"


@pytest.fixture
async def deployment(database: Database, tmp_path: Path, clock: FixedClock) -> Deployment:
    # The same database as the shared fixture, so these run on SQLite and on PostgreSQL.
    url = database.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, database_url=url)
    built = bootstrap(settings, demo_mode=True, password_cost="fast", clock=clock)
    await built.services.database.upgrade()
    await demo.seed(built.services)
    return built


@pytest.fixture
async def client(aiohttp_client: MakeClient, deployment: Deployment) -> TestClient:
    return await aiohttp_client(build_app(deployment, dispatch=False))


def say(text: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {"session": SESSION, "text": text, "client_message_id": message_id, **fields}


def greeting(language: str = "zh_Hans") -> dict[str, Any]:
    """What a new visitor's first message is answered with: the greeting and the menu, as buttons."""
    text = "\n".join(
        [
            texts.text(language, "menu.greeting", name=demo.DEMO_BOT_NAME),
            texts.text(language, "menu.prompt"),
        ]
    )
    keys = ["submit", "lookup", "subsidy", "rate", "human"]
    return {
        "text": text,
        "choices": [{"key": k, "label": texts.text(language, f"menu.choice.{k}")} for k in keys],
    }


async def test_home_leads_to_the_first_bots_web_chat_and_health_is_ok(client: TestClient) -> None:
    home = await client.get("/", allow_redirects=False)
    assert (home.status, home.headers["Location"]) == (302, "/chat/demo")
    health = await client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    assert (await client.get("/chat/demo")).status == 200


async def test_a_first_message_is_answered_with_the_greeting(client: TestClient) -> None:
    response = await client.post("/chat/demo/api/messages", json=say("你好", "m1"))
    assert response.status == 200
    assert await response.json() == {"session": SESSION, "replies": [greeting()]}


async def test_a_repeated_message_id_gets_the_first_answer_again(client: TestClient) -> None:
    first = await (await client.post("/chat/demo/api/messages", json=say("你好", "m1"))).json()
    again = await (await client.post("/chat/demo/api/messages", json=say("你好", "m1"))).json()
    assert again == first


async def test_a_staff_reply_reaches_the_page_through_the_poll(
    client: TestClient, deployment: Deployment
) -> None:
    assert (await client.post("/chat/demo/api/messages", json=say("人工", "m1"))).status == 200
    services = deployment.services
    async with services.database.transaction() as session:
        b = services.backend(session)
        [waiting] = await handoff.list_open(b, bot_id="demo")
        assert (waiting.channel, waiting.last_text) == ("webchat", "人工")
        await handoff.staff_reply(b, waiting.id, staff="王芳", text="您好，我是王芳。<script>x()</script>")

    await deployment.dispatcher.run_once()  # web chat rows are "sent" by leaving them for the page
    poll = await client.get(f"/chat/demo/api/messages?session={SESSION}&after=0")
    assert poll.status == 200
    [message] = (await poll.json())["messages"]
    assert (message["text"], message["choices"]) == ("您好，我是王芳。<script>x()</script>", [])

    again = await client.get(f"/chat/demo/api/messages?session={SESSION}&after={message['id']}")
    assert (await again.json())["messages"] == []
    async with services.database.reading() as session:
        row = await session.get(OutboxMessage, message["id"])
        assert row is not None and (row.kind, row.status) == ("staff", "delivered")


async def test_another_session_sees_nothing_of_it(client: TestClient, deployment: Deployment) -> None:
    await client.post("/chat/demo/api/messages", json=say("人工", "m1"))
    async with deployment.services.database.transaction() as session:
        b = deployment.services.backend(session)
        [waiting] = await handoff.list_open(b)
        await handoff.staff_reply(b, waiting.id, staff="王芳", text="只给这位市民")
    stranger = "ffffffffffffffffffffffffffffffff"
    poll = await client.get(f"/chat/demo/api/messages?session={stranger}&after=0")
    assert (await poll.json())["messages"] == []


async def test_client_mistakes_are_json_4xx_never_500(client: TestClient) -> None:
    too_big = await client.post(
        "/chat/demo/api/messages",
        data=b"{" + b" " * (70 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert (too_big.status, await too_big.json()) == (413, {"error": "body_too_large"})

    broken = await client.post(
        "/chat/demo/api/messages", data=b'{"session": ', headers={"Content-Type": "application/json"}
    )
    assert (broken.status, await broken.json()) == (400, {"error": "malformed_json"})

    bad_session = await client.post("/chat/demo/api/messages", json=say("你好", "m1", session="../../etc"))
    assert (bad_session.status, await bad_session.json()) == (400, {"error": "bad_session"})

    unknown = await client.get("/chat/nowhere/api/messages", headers={"Accept": "application/json"})
    assert unknown.status == 404


async def test_the_demo_phone_persona_answers_the_pending_survey(
    client: TestClient, deployment: Deployment
) -> None:
    persona = {"persona": demo.DEMO_PERSONA}
    config = await (await client.get("/chat/demo/api/config")).json()
    assert config["personas"] == [demo.DEMO_PERSONA]

    poll = await client.get(f"/chat/demo/api/messages?session={SESSION}&after=0&persona={demo.DEMO_PERSONA}")
    [survey_sms] = (await poll.json())["messages"]
    assert "不动产登记" in survey_sms["text"]

    answer = await client.post("/chat/demo/api/messages", json=say("1", "m1", **persona))
    assert answer.status == 200
    replies = (await answer.json())["replies"]
    assert replies and all(reply["choices"] == [] for reply in replies)  # SMS: no buttons
    async with deployment.services.database.reading() as session:
        statuses = list(await session.scalars(select(Survey.status).where(Survey.bot_id == "demo")))
    assert statuses == ["answered"]


async def test_the_dispatcher_runs_with_the_app_and_stops_with_it(
    aiohttp_client: MakeClient, deployment: Deployment
) -> None:
    client = await aiohttp_client(build_app(deployment))
    await client.post("/chat/demo/api/messages", json=say("人工", "m1"))
    async with deployment.services.database.transaction() as session:
        b = deployment.services.backend(session)
        [waiting] = await handoff.list_open(b)
        row = await handoff.staff_reply(b, waiting.id, staff="王芳", text="马上为您处理")
    deployment.dispatcher.wake()
    for _ in range(200):
        async with deployment.services.database.reading() as session:
            status = await session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == row.id))
        if status == "sent":
            break
        await asyncio.sleep(0.01)
    assert status == "sent"
    await client.close()
