"""The admin's staff page: who has an account, add one, disable or re-enable it, issue a new password.

A password made here is generated, shown once on the response to the admin who asked, and never
again; the admin hands it over and the person changes nothing else (there is no self-service yet).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bots.desk import accounts
from bots.desk.context import desk, source, viewer
from bots.desk.render import back, render
from bots.desk.security import form_text, guard
from storage.models import Staff

MESSAGES = {
    "username": "用户名只能用字母、数字和 . _ -，2–48 个字符。",
    "role": "请选择角色。",
    "department": "科室人员必须选择所属部门。",
    "password": "密码太短。",
    "taken": "这个用户名已经有人用了。",
    "missing": "没有这个账号。",
}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/staff", staff_page, name="staff"),
        web.post("/staff", add_staff),
        web.post("/staff/{id:\\d+}/active", toggle_active),
        web.post("/staff/{id:\\d+}/password", new_password),
    ]


async def _page(request: web.Request, issued: tuple[str, str] | None = None) -> web.Response:
    context = desk(request)
    async with context.reading() as b:
        people = await accounts.everyone(b)
    return await render(
        request,
        "staff.html",
        {"people": people, "roles": accounts.ROLES, "departments": context.departments(), "issued": issued},
    )


@guard("admin")
async def staff_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@guard("admin")
async def add_staff(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    password = accounts.generated_password()
    username = form_text(form, "username", limit=64)
    try:
        async with desk(request).transaction() as b:
            await accounts.add(
                b,
                username=username,
                display_name=form_text(form, "display_name", limit=128),
                role=form_text(form, "role", limit=16),
                department=form_text(form, "department", limit=128) or None,
                password=password,
                actor=viewer(request).username,
                source=source(request),
            )
    except accounts.AccountError as exc:
        raise await back(request, "/desk/staff", MESSAGES.get(exc.code, str(exc)), "error") from None
    return await _page(request, issued=(username, password))


async def _username(request: web.Request) -> str:
    async with desk(request).reading() as b:
        username = await b.session.scalar(
            select(Staff.username).where(Staff.id == int(request.match_info["id"]))
        )
    if username is None:
        raise web.HTTPNotFound()
    return username


@guard("admin")
async def toggle_active(request: web.Request) -> web.StreamResponse:
    me = viewer(request)
    username = await _username(request)
    if username == me.username:
        raise await back(request, "/desk/staff", "不能停用自己的账号。", "error")
    active = form_text(await request.post(), "active", limit=8) == "1"
    async with desk(request).transaction() as b:
        await accounts.set_active(b, username, active, actor=me.username, source=source(request))
    raise await back(request, "/desk/staff", f"已{'启用' if active else '停用'} {username}。")


@guard("admin")
async def new_password(request: web.Request) -> web.StreamResponse:
    me = viewer(request)
    username = await _username(request)
    password = accounts.generated_password()
    async with desk(request).transaction() as b:
        await accounts.set_password(b, username, password, actor=me.username, source=source(request))
    return await _page(request, issued=(username, password))
