"""The desk over HTTP: the demo deployment (SQLite and PostgreSQL), staff of two departments, a supervisor,
an admin, and a small world of cases and handoffs to look at."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bots import demo
from bots.app import build_app
from bots.bootstrap import Deployment, bootstrap
from bots.desk import accounts
from bots.settings import Settings
from core import cases, ratings
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from core.messages import Inbound
from storage.database import Database
from storage.models import Case, Conversation, Handoff, Staff
from tests.conftest import TEST_SECRET

DEPT_A = "县民政局"
DEPT_B = "县住建局"
PASSWORD = "correct-horse-battery"
CITIZEN = "0123456789abcdef0123456789abcdef"  # a web chat session: the citizen's address
TIP_SESSION = "fedcba9876543210fedcba9876543210"
OTHER_SESSION = "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb"
REPORTER = {"name": "赵铁柱", "phone": "13912345678"}
USERS = {
    "alice": ("staff", DEPT_A),
    "bob": ("staff", DEPT_B),
    "sue": ("supervisor", None),
    "ada": ("admin", None),
}
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
_FORM_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class World:
    case_a: int  # a complaint of department A from the web chat citizen
    case_a2: int  # another open complaint of department A, to merge into
    case_b: int  # department B
    tip: int  # a tip of department A with a named reporter and a contact
    anonymous_tip: int
    handoff_open: int  # a waiting handoff with no department: anyone may answer
    handoff_b: int  # a waiting handoff about department B
    warning: int
    carol: int  # a spare account for the admin page
    numbers: dict[int, str]


@pytest.fixture
async def deployment(database: Database, tmp_path: Path, clock: FixedClock) -> Deployment:
    url = database.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, database_url=url)
    built = bootstrap(settings, demo_mode=True, password_cost="fast", clock=clock)
    await built.services.database.upgrade()
    await demo.seed(built.services)
    return built


async def say(deployment: Deployment, session: str, message_id: str, text: str) -> None:
    await deployment.handle(Inbound("webchat", demo.DEMO_BOT_ID, session, f"{session}:{message_id}", text))


async def conversation_id(deployment: Deployment, session: str) -> int:
    async with deployment.services.database.reading() as db:
        rows = await db.scalars(select(Conversation).where(Conversation.channel == "webchat"))
        for row in rows:
            if deployment.services.keyring.decrypt(row.address_enc) == session:
                assert row.id is not None
                return row.id
    raise LookupError(session)


@pytest.fixture
async def world(deployment: Deployment) -> World:
    services = deployment.services
    await say(deployment, CITIZEN, "m1", "人工")
    await say(deployment, CITIZEN, "m2", "我家的低保停了，想问问为什么")
    await say(deployment, OTHER_SESSION, "m1", "人工")
    await say(deployment, TIP_SESSION, "m1", "你好")
    citizen = await conversation_id(deployment, CITIZEN)
    tipster = await conversation_id(deployment, TIP_SESSION)
    other = await conversation_id(deployment, OTHER_SESSION)
    async with services.database.transaction() as session:
        b = services.backend(session)
        for username, (role, department) in {**USERS, "carol": ("staff", DEPT_A)}.items():
            await accounts.add(
                b,
                username=username,
                display_name=username.title(),
                role=role,
                department=department,
                password=PASSWORD,
                actor="test",
                source="test",
            )

        async def submit(**fields: Any) -> int:
            draft = CaseDraft(bot_id=demo.DEMO_BOT_ID, **fields)
            return (await cases.submit(b, draft)).case_id

        case_a = await submit(
            kind="complaint",
            description="低保被停发，没有人通知。",
            department=DEPT_A,
            contact=Contact("webchat", CITIZEN, citizen),
        )
        case_a2 = await submit(kind="complaint", description="低保的事，第二次反映。", department=DEPT_A)
        case_b = await submit(kind="complaint", description="危房改造补助没到。", department=DEPT_B)
        tip = await submit(
            kind="tip",
            description="村会计挪用低保资金。",
            department=DEPT_A,
            reporter=REPORTER,
            contact=Contact("webchat", TIP_SESSION, tipster),
        )
        anonymous_tip = await submit(
            kind="tip", description="匿名：有人吃空饷。", department=DEPT_A, anonymous=True
        )
        handoffs = {
            row.conversation_id: row for row in await session.scalars(select(Handoff).order_by(Handoff.id))
        }
        handoffs[other].department = DEPT_B
        rated = await ratings.record(
            b, bot_id=demo.DEMO_BOT_ID, channel="sms", grade=4, department=DEPT_A, window="3号窗口"
        )
        carol = await session.scalar(select(Staff.id).where(Staff.username == "carol"))
        numbers = {}
        for case_id in (case_a, case_a2, case_b, tip, anonymous_tip):
            row = await session.get(Case, case_id)
            assert row is not None
            numbers[case_id] = row.number
    assert rated.warning_id is not None and carol is not None
    return World(
        case_a=case_a,
        case_a2=case_a2,
        case_b=case_b,
        tip=tip,
        anonymous_tip=anonymous_tip,
        handoff_open=_id(handoffs[citizen].id),
        handoff_b=_id(handoffs[other].id),
        warning=rated.warning_id,
        carol=carol,
        numbers=numbers,
    )


def _id(value: int | None) -> int:
    assert value is not None
    return value


class Desk:
    """A browser-like session at the desk: its own cookies, and the CSRF token of its current page."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> Any:
        response = await self.client.get(path, allow_redirects=False, **kwargs)
        if response.status == 200 and response.content_type == "text/html":
            found = _CSRF.search(await response.text())
            if found:
                self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        return await self.client.post(path, data=form, allow_redirects=False, **kwargs)

    async def login(self, username: str, password: str = PASSWORD) -> Any:
        page = await self.get("/desk/login")
        token = _FORM_CSRF.search(await page.text())
        assert token is not None
        self.csrf = token.group(1)
        response = await self.post("/desk/login", {"username": username, "password": password})
        if response.status == 303:
            await self.get("/desk/queue")  # the new session's token
        return response


NewDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def server(deployment: Deployment) -> Any:
    app = build_app(deployment, dispatch=False)
    test_server = TestServer(app)
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def desk_as(server: TestServer) -> Any:
    """desk_as("alice") is a signed-in session; desk_as(None) an anonymous one (with a login-page token)."""
    opened: list[TestClient] = []

    async def make(username: str | None) -> Desk:
        client = TestClient(server)
        await client.start_server()
        opened.append(client)
        desk = Desk(client)
        if username is None:
            await desk.get("/desk/login")
            page = await client.get("/desk/login")
            token = _FORM_CSRF.search(await page.text())
            assert token is not None
            desk.csrf = token.group(1)
        else:
            response = await desk.login(username)
            assert response.status == 303, await response.text()
        return desk

    yield make
    for client in opened:
        await client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # aiohttp-session keys the request with plain strings; aiohttp asks for typed keys. Not ours to fix.
    quiet = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")
    for item in items:
        if "tests/desk/" in str(item.path):
            item.add_marker(quiet)
