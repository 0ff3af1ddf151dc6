"""Data-isolation drill: a department's clerk cannot reach another department's cases, nor any tip
reporter's identity, through any desk route, page source, event stream, JSON error or export.

The routes are read from the desk's own router, so a route added tomorrow is attacked too (or the
drill fails, asking which ids it takes). Alice (staff of department A) asks for everything with the ids
of department B's cases and handoff and of the tips; every answer is 403/404 and carries none of B's
texts or numbers and no reporter's name, phone, WeChat openid, web chat session or ID number; the
database is exactly as it was before (no change, no notice, no audit row). The pages Alice may open —
every filter, search and page of the case list, her cases (tips included), the queue, the live
stream — are searched for the same secrets, and so are the supervisors' CSV exports for identities.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bots import demo
from bots.bootstrap import Deployment
from bots.desk import case_actions
from bots.desk.app import STATIC_FILES
from core import cases, outbox
from core.cases import CaseDraft, Contact
from core.receipts import format_case_number
from storage.models import AuditEvent, Case, CaseEvent, DepartmentWarning, Handoff, OutboxMessage, Staff
from tests.desk import conftest as desk_conftest
from tests.desk.conftest import DEPT_A, DEPT_B, OTHER_SESSION, REPORTER, TIP_SESSION, Desk, World, say

# The desk tests' world and fixtures, used here as they are (a conftest here would lend them to every drill).
DESK_FIXTURES = ("deployment", "world", "server", "desk_as")
globals().update({name: getattr(desk_conftest, name) for name in DESK_FIXTURES})

# aiohttp-session keys the request with plain strings; aiohttp asks for typed keys. Not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

B_WORDS = "住建局危房鉴定报告涉嫌造假"  # what B's citizen told B's clerk in the handoff
B_NOTE = "住建局内部备注：施工方是局长亲戚"
B_REPLY = "住建局答复：补助将于下月发放"
B_TIP_TEXT = "住建局工程款被挪用到私人账户"
B_REPORTER = {"name": "钱多多", "phone": "13700001111", "id_number": "110101199003077777"}
B_OPENID = "oB7xK2mQ9vR4tY1uZ3wE5sD8fG0h"
A_OPENID = "oA1qW2eR3tY4uI5oP6aS7dF8gH9j"
A_TIP_ID_NUMBER = "430721195204181249"
A_TIP_TEXT = "举报：村主任虚报低保名单，多报了七户"

ID_SEGMENTS = ("cases", "handoffs", "warnings", "staff")  # the word before {id} says which table it names
# Routes that take no id and are not about any department's data, with why they are left out.
EXEMPT = {
    ("POST", "/desk/login"): "signs in: no case or handoff is named",
    ("POST", "/desk/logout"): "ends Alice's own session; run last in its own test",
}
ANY_FIELD = {  # one form that fills every field any desk action reads
    "text": "越权测试",
    "reason": "越权测试",
    "department": DEPT_A,
    "kind": "complaint",
    "description": "越权测试",
    "active": "0",
    "username": "mallory",
    "role": "admin",
}


@dataclass
class Drill:
    world: World
    case_b: list[int]  # department B's cases: the complaint and the tip
    handoff_b: int
    tips_a: list[int]  # department A's tips: Alice sees the case, never who reported it
    staff_bob: int
    secrets: list[str]  # nothing Alice receives may contain any of these
    identities: list[str]  # nobody's export may contain any of these


@pytest.fixture
async def drill(world: World, deployment: Deployment) -> Drill:
    services = deployment.services
    await say(deployment, OTHER_SESSION, "m2", B_WORDS)  # into the handoff about department B
    async with services.database.transaction() as session:
        b = services.backend(session)
        b_tip = (
            await cases.submit(
                b,
                CaseDraft(
                    bot_id=demo.DEMO_BOT_ID,
                    kind="tip",
                    description=B_TIP_TEXT,
                    department=DEPT_B,
                    reporter=B_REPORTER,
                    contact=Contact("wechat", B_OPENID, None),
                ),
            )
        ).case_id
        wechat_tip = (
            await cases.submit(
                b,
                CaseDraft(
                    bot_id=demo.DEMO_BOT_ID,
                    kind="tip",
                    description=A_TIP_TEXT,
                    department=DEPT_A,
                    reporter={
                        "name": REPORTER["name"],
                        "phone": REPORTER["phone"],
                        "id_number": A_TIP_ID_NUMBER,
                    },
                    contact=Contact("wechat", A_OPENID, None),
                ),
            )
        ).case_id
        await cases.accept(b, world.case_b, "staff:bob")
        await cases.add_note(b, world.case_b, "staff:bob", B_NOTE)
        await cases.reply(b, world.case_b, "staff:bob", B_REPLY)
        bob = await session.scalar(select(Staff.id).where(Staff.username == "bob"))
        b_numbers = [
            number
            for number in await session.scalars(select(Case.number).where(Case.id.in_([world.case_b, b_tip])))
        ]
    assert bob is not None and len(b_numbers) == 2
    identities = [
        REPORTER["name"],
        REPORTER["phone"],
        TIP_SESSION,
        A_OPENID,
        A_TIP_ID_NUMBER,
        *B_REPORTER.values(),
        B_OPENID,
    ]
    b_texts = ["危房改造补助没到", B_WORDS, B_NOTE, B_REPLY, B_TIP_TEXT, OTHER_SESSION]
    numbers = [*b_numbers, *(format_case_number(number) for number in b_numbers)]
    return Drill(
        world=world,
        case_b=[world.case_b, b_tip],
        handoff_b=world.handoff_b,
        tips_a=[world.tip, world.anonymous_tip, wechat_tip],
        staff_bob=bob,
        secrets=[*identities, *b_texts, *numbers],
        identities=identities,
    )


def desk_routes(server: TestServer) -> list[tuple[str, str]]:
    """(method, path template) of every desk route, read from the mounted sub-application's router."""
    desk_app = None
    for resource in server.app.router.resources():
        info = resource.get_info()
        if info.get("prefix") == "/desk" and isinstance(info.get("app"), web.Application):
            desk_app = info["app"]
    assert desk_app is not None, "the desk sub-application is not mounted at /desk"
    found = {(route.method, route.resource.canonical) for route in desk_app.router.routes() if route.resource}
    return sorted((method, path) for method, path in found if method != "HEAD")


def _leaked(drill: Drill, body: str) -> list[str]:
    return [secret for secret in drill.secrets if secret in body]


async def _body(response: Any) -> str:
    """The text of a response; a live event stream is read up to its first full round of events."""
    if response.content_type == "text/event-stream":
        seen = b""
        try:
            wanted = [b"event: queue"] + ([b"event: transcript"] if "handoff=" in str(response.url) else [])
            while not all(name in seen for name in wanted):
                seen += await asyncio.wait_for(response.content.readuntil(b"\n\n"), timeout=5)
        finally:
            response.close()
        return seen.decode()
    data = await response.read()
    return data.decode("utf-8-sig", errors="replace")


async def _snapshot(deployment: Deployment) -> dict[str, Any]:
    """Everything an attempted action could change."""
    async with deployment.services.database.reading() as session:
        counts = {
            model.__name__: await session.scalar(select(func.count()).select_from(model))
            for model in (AuditEvent, CaseEvent, OutboxMessage, Case, Handoff, Staff, DepartmentWarning)
        }
        case_rows = (
            await session.execute(
                select(Case.id, Case.status, Case.department, Case.primary_id, Case.description).order_by(
                    Case.id
                )
            )
        ).all()
        handoff_rows = (
            await session.execute(
                select(Handoff.id, Handoff.status, Handoff.claimed_by, Handoff.department).order_by(
                    Handoff.id
                )
            )
        ).all()
        staff_rows = (
            await session.execute(
                select(Staff.id, Staff.active, Staff.password_hash, Staff.role).order_by(Staff.id)
            )
        ).all()
        warning_rows = (
            await session.execute(
                select(DepartmentWarning.id, DepartmentWarning.resolved_at).order_by(DepartmentWarning.id)
            )
        ).all()
    return {
        "counts": counts,
        "cases": [tuple(row) for row in case_rows],
        "handoffs": [tuple(row) for row in handoff_rows],
        "staff": [tuple(row) for row in staff_rows],
        "warnings": [tuple(row) for row in warning_rows],
    }


def _targets(drill: Drill, method: str, template: str) -> list[str]:
    """Every concrete path that points the route at something that is not Alice's: B's cases and handoff,
    and A's tips wherever a route could show (not change) one — their pages and the reveal."""
    reads_a_tip = method == "GET" or template.endswith("/reveal")
    ids_by_segment = {
        "cases": [*drill.case_b, *(drill.tips_a if reads_a_tip else [])],
        "handoffs": [drill.handoff_b],
        "warnings": [drill.world.warning],
        "staff": [drill.staff_bob],
    }
    names = re.findall(r"\{(\w+)\}", template)
    if not names:
        return [template]
    if names == ["name"]:
        return [template.replace("{name}", name) for name in STATIC_FILES]
    segment = template.split("/{id}")[0].rsplit("/", 1)[-1]
    assert names[0] == "id" and segment in ID_SEGMENTS, (
        f"new desk route {method} {template}: teach the isolation drill which ids it takes"
    )
    paths = [template.replace("{id}", str(value), 1) for value in ids_by_segment[segment]]
    if names[1:] == ["action"]:
        paths = [path.replace("{action}", action) for path in paths for action in case_actions.ACTIONS]
    else:
        assert names == ["id"], f"new placeholder in {template}: teach the isolation drill its values"
    return paths


async def test_every_desk_route_refuses_department_b_and_reveals_no_reporter(
    drill: Drill, desk_as: Any, server: TestServer, deployment: Deployment
) -> None:
    alice: Desk = await desk_as("alice")
    routes = desk_routes(server)
    assert ("POST", "/desk/cases/{id}/{action}") in routes and len(routes) > 25, routes  # really read
    before = await _snapshot(deployment)
    asked = 0
    for method, template in routes:
        if (method, template) in EXEMPT:
            continue
        for path in _targets(drill, method, template):
            tip_page = method == "GET" and any(path == f"/desk/cases/{tip}" for tip in drill.tips_a)
            for accept in ("text/html", "application/json"):
                headers = {"Accept": accept}
                if method == "GET":
                    response = await alice.get(path, headers=headers)
                else:
                    form = dict(ANY_FIELD, into=drill.world.numbers[drill.world.case_a2])
                    response = await alice.post(path, form, headers=headers)
                body = await _body(response)
                asked += 1
                where = f"{method} {path} (Accept: {accept}) -> {response.status}"
                assert _leaked(drill, body) == [], where
                if tip_page:
                    assert response.status == 200 and ("匿名/保密" in body or "完全匿名" in body), where
                elif "{id}" in template:
                    assert response.status in (403, 404), where
                else:
                    assert response.status in (200, 302, 303, 400, 403), where
    assert asked > 100
    assert await _snapshot(deployment) == before  # nothing changed, nothing sent, nothing audited


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?department=" + DEPT_B,
        "?q=危房改造",
        "?q=鉴定报告",
        "?q=挪用",
        "?kind=tip",
        "?kind=tip&status=open",
        "?channel=webchat",
        "?channel=wechat",
        "?status=replied",
        "?overdue=1",
        "?page=2",
        "?page=10000",
        "?q=%25",
        "?q=_",
    ],
)
async def test_the_case_list_never_shows_another_department_or_a_reporter(
    drill: Drill, desk_as: Any, query: str
) -> None:
    alice: Desk = await desk_as("alice")
    response = await alice.get("/desk/cases" + query)
    body = await _body(response)
    assert response.status == 200
    assert _leaked(drill, body) == []


async def test_searching_for_a_department_b_case_number_finds_nothing(drill: Drill, desk_as: Any) -> None:
    alice: Desk = await desk_as("alice")
    sue: Desk = await desk_as("sue")
    for case_id in drill.case_b:
        number = await _number(sue, case_id)
        for query in (number, format_case_number(number), number[-6:]):
            mine = await _body(await alice.get(f"/desk/cases?q={query}"))
            # The search box repeats what Alice typed; anything else of B's would be a leak.
            assert _leaked(drill, mine.replace(query, "")) == [] and "没有符合条件的案件" in mine, query
            theirs = await _body(await sue.get(f"/desk/cases?q={query}"))
            assert format_case_number(number) in theirs, query  # the search itself does work


async def _number(desk: Desk, case_id: int) -> str:
    page = await _body(await desk.get(f"/desk/cases/{case_id}"))
    found = re.search(r"<h1>\S+ ([\d-]+) ", page)
    assert found is not None, page[:500]
    return found.group(1).replace("-", "")


async def test_alices_own_pages_and_streams_carry_no_secret(drill: Drill, desk_as: Any) -> None:
    alice: Desk = await desk_as("alice")
    world = drill.world
    pages = [
        "/desk/queue",
        "/desk/events",
        f"/desk/events?handoff={world.handoff_open}",
        f"/desk/handoffs/{world.handoff_open}",
        *(f"/desk/cases/{case_id}" for case_id in (world.case_a, world.case_a2, *drill.tips_a)),
    ]
    for path in pages:
        response = await alice.get(path)
        body = await _body(response)
        assert response.status == 200, path
        assert _leaked(drill, body) == [], path
    wechat_tip = await _body(await alice.get(f"/desk/cases/{drill.tips_a[-1]}"))
    assert A_TIP_TEXT in wechat_tip and "微信" not in wechat_tip  # the tip is hers; who and how is not


async def test_the_secrets_are_really_there_for_whom_may_see_them(drill: Drill, desk_as: Any) -> None:
    """The drill's checks are not vacuous: B's clerk sees B's texts, a supervisor's reveal the identity."""
    bob: Desk = await desk_as("bob")
    page = await _body(await bob.get(f"/desk/cases/{drill.world.case_b}"))
    assert B_NOTE in page and B_REPLY in page and "危房改造补助没到" in page
    assert B_WORDS in await _body(await bob.get(f"/desk/handoffs/{drill.handoff_b}"))
    sue: Desk = await desk_as("sue")
    await sue.get(f"/desk/cases/{drill.case_b[1]}")
    revealed = await _body(await sue.post(f"/desk/cases/{drill.case_b[1]}/reveal", {"reason": "演练核对"}))
    assert B_REPORTER["name"] in revealed and B_OPENID in revealed


async def test_forms_naming_department_b_are_refused_and_write_nothing(
    drill: Drill, desk_as: Any, deployment: Deployment
) -> None:
    world = drill.world
    alice: Desk = await desk_as("alice")
    sue: Desk = await desk_as("sue")
    b_number = await _number(sue, world.case_b)
    await alice.get(f"/desk/cases/{world.case_a2}")
    before = await _snapshot(deployment)
    answers = []
    for into in (b_number, format_case_number(b_number), "999999999999"):
        response = await alice.post(f"/desk/cases/{world.case_a2}/merge", {"into": into})
        assert response.status == 303
        page = await _body(await alice.get(response.headers["Location"]))
        answers.append(re.findall(r'<p class="flash error"[^>]*>([^<]+)</p>', page))
        assert _leaked(drill, page) == []
    # Another department's number is answered exactly like a number that does not exist.
    assert answers == [["找不到这个案件编号，或不能并入它。"]] * 3
    # A clerk cannot register a tip from a conversation, whatever the form says.
    await alice.get(f"/desk/handoffs/{world.handoff_open}")
    refused = await alice.post(
        f"/desk/handoffs/{world.handoff_open}/case",
        {"kind": "tip", "description": "越权立案", "department": DEPT_B},
    )
    assert refused.status == 303
    assert await _snapshot(deployment) == before


async def test_a_case_a_clerk_registers_is_hers_whatever_department_the_form_names(
    drill: Drill, desk_as: Any, deployment: Deployment
) -> None:
    world = drill.world
    alice: Desk = await desk_as("alice")
    await alice.get(f"/desk/handoffs/{world.handoff_open}")
    response = await alice.post(
        f"/desk/handoffs/{world.handoff_open}/case",
        {"kind": "complaint", "description": "转给住建局试试", "department": DEPT_B},
    )
    assert response.status == 303
    async with deployment.services.database.reading() as session:
        department = await session.scalar(select(Case.department).where(Case.description == "转给住建局试试"))
    assert department == DEPT_A


async def test_supervisor_exports_carry_no_reporter_identity(drill: Drill, desk_as: Any) -> None:
    sue: Desk = await desk_as("sue")
    for name in ("cases", "ratings", "satisfaction", "warnings"):
        for query in ("", "?kind=tip", "?channel=wechat", "?channel=webchat"):
            response = await sue.get(f"/desk/export/{name}.csv{query}")
            body = await _body(response)
            assert response.status == 200, name
            leaked = [secret for secret in drill.identities if secret in body]
            assert leaked == [], f"{name}{query}"
    tips = await _body(await sue.get("/desk/export/cases.csv?kind=tip"))
    assert B_TIP_TEXT in tips and A_TIP_TEXT in tips  # the tips are exported; their reporters are not


async def test_a_signed_out_clerk_gets_nothing(drill: Drill, desk_as: Any) -> None:
    alice: Desk = await desk_as("alice")
    assert (await alice.post("/desk/logout")).status in (302, 303)
    for path in (f"/desk/cases/{drill.world.case_a}", f"/desk/cases/{drill.tips_a[0]}", "/desk/cases"):
        response = await alice.get(path)
        assert response.status == 302 and _leaked(drill, await _body(response)) == []


async def test_a_case_a_supervisor_opens_for_b_from_a_shared_conversation_stays_out_of_alices_view(
    drill: Drill, desk_as: Any, deployment: Deployment
) -> None:
    """A conversation without a department is open to every clerk; the case a supervisor registers from
    it for department B (or as a tip) is not: neither its number nor its query password."""
    world = drill.world
    sue: Desk = await desk_as("sue")
    await sue.get(f"/desk/handoffs/{world.handoff_open}")
    for kind, department in (("complaint", DEPT_B), ("tip", DEPT_A)):
        response = await sue.post(
            f"/desk/handoffs/{world.handoff_open}/case",
            {"kind": kind, "description": f"由对话立案：{kind}", "department": department},
        )
        assert response.status == 303 and response.headers["Location"].startswith("/desk/cases/")
    async with deployment.services.database.reading() as session:
        opened = list(await session.scalars(select(Case).where(Case.description.startswith("由对话立案"))))
    assert {case.department for case in opened} == {DEPT_A, DEPT_B}
    alice: Desk = await desk_as("alice")
    for path in (f"/desk/handoffs/{world.handoff_open}", f"/desk/events?handoff={world.handoff_open}"):
        body = await _body(await alice.get(path))
        for case in opened:
            shown = [line for line in body.splitlines() if re.sub(r"\D", "", line).find(case.number) >= 0]
            assert shown == [], (path, case.kind)
            assert f"/desk/cases/{case.id}" not in body, path
    # The receipt went to the citizen with the query password; the desk shows it to nobody, Sue included.
    async with deployment.services.database.reading() as session:
        keyring = deployment.services.keyring
        rows = await session.scalars(select(OutboxMessage))
        payloads = [outbox.outbound_of(keyring, row.payload).text for row in rows]
    passwords = [found for text in payloads for found in re.findall(r"查询密码：(\d{8})", text)]
    assert len(passwords) == 2
    for desk in (alice, sue):
        for path in (f"/desk/handoffs/{world.handoff_open}", f"/desk/events?handoff={world.handoff_open}"):
            body = await _body(await desk.get(path))
            assert "查询密码：••••••••" in body, path
            assert [password for password in passwords if password in body] == [], path
