"""The handoff queue: who is waiting, for how long, on which channel; a conversation's transcript; and the
clerk's actions on it — claim, reply, close, open a case from it."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bots.desk import handoffs
from bots.desk.context import Desk, Viewer, desk, source, viewer
from bots.desk.render import back, render
from bots.desk.security import form_text, guard
from conversations.flows.office_hours import next_opening
from core import audit, cases, handoff
from core.cases import CaseDraft, Contact
from core.policy import CASE_KINDS

MAX_REPLY = 4000


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", home),
        web.get("/queue", queue_page, name="queue"),
        web.get("/handoffs/{id:\\d+}", handoff_page, name="handoff"),
        web.post("/handoffs/{id:\\d+}/claim", claim),
        web.post("/handoffs/{id:\\d+}/reply", reply),
        web.post("/handoffs/{id:\\d+}/close", close),
        web.post("/handoffs/{id:\\d+}/case", open_case),
    ]


@dataclass(frozen=True)
class OfficeState:
    bot_id: str
    name: str
    hours: str
    open: bool
    next_opening: str


def office_states(context: Desk) -> list[OfficeState]:
    """Per bot: is someone expected at the desk now, and if not, what citizens were told."""
    services = context.deployment.services
    now = context.now().astimezone(context.zone)
    states = []
    for bot_id, profile in services.profiles.items():
        hours = profile.office_hours
        calendar = services.calendar if profile.use_workday_calendar else None
        opening = next_opening(now, hours, calendar)
        days = "、".join("一二三四五六日"[day] for day in sorted(hours.weekdays))
        states.append(
            OfficeState(
                bot_id=bot_id,
                name=profile.name,
                hours=f"周{days} {hours.opens}–{hours.closes}",
                open=opening is None,
                next_opening=opening.strftime("%m-%d %H:%M") if opening else "",
            )
        )
    return states


@guard("staff")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/desk/queue")


@guard("staff")
async def queue_page(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    async with context.reading() as b:
        rows = await handoffs.queue(b, viewer(request))
    return await render(request, "queue.html", {"rows": rows, "offices": office_states(context)})


async def _visible(request: web.Request) -> tuple[int, Viewer]:
    handoff_id = int(request.match_info["id"])
    me = viewer(request)
    async with desk(request).reading() as b:
        if await handoffs.visible(b, me, handoff_id) is None:
            raise web.HTTPNotFound()
    return handoff_id, me


@guard("staff")
async def handoff_page(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    me = viewer(request)
    handoff_id = int(request.match_info["id"])
    async with context.reading() as b:
        found = await handoffs.visible(b, me, handoff_id)
        if found is None:
            raise web.HTTPNotFound()
        row, conversation = found
        since = handoffs.history_from(me, row)
        lines = await handoffs.transcript(
            b, conversation.id or 0, since=since, hide_case_numbers=not me.sees_all
        )
        opened = await handoffs.cases_opened(b, me, handoff_id)
    mine = row.status == "claimed" and row.claimed_by == me.username
    may_answer = row.status != "closed" and (row.status == "waiting" or mine or me.sees_all)
    kinds = [kind for kind in CASE_KINDS if kind != "tip" or me.sees_all]
    return await render(
        request,
        "conversation.html",
        {
            "handoff": row,
            "channel": conversation.channel,
            "lines": lines,
            "history_hidden": since is not None,
            "mine": mine,
            "may_answer": may_answer,
            "opened_cases": opened,
            "kinds": kinds,
            "departments": context.departments_of(row.bot_id),
            "draft": handoffs.citizen_words(lines),
            "max_reply": MAX_REPLY,
        },
    )


@guard("staff")
async def claim(request: web.Request) -> web.StreamResponse:
    handoff_id, me = await _visible(request)
    here = f"/desk/handoffs/{handoff_id}"
    try:
        async with desk(request).transaction() as b:
            await handoffs.claim(b, me, handoff_id, where=source(request))
    except handoffs.HandoffTaken as taken:
        raise await back(request, here, f"已由 {taken.by} 接手。", "error") from None
    except ValueError:
        raise await back(request, here, "这次人工服务已经结束。", "error") from None
    raise await back(request, here, "已接手，请回复市民。")


@guard("staff")
async def reply(request: web.Request) -> web.StreamResponse:
    handoff_id, me = await _visible(request)
    here = f"/desk/handoffs/{handoff_id}"
    text = form_text(await request.post(), "text", limit=MAX_REPLY)
    if not text:
        raise await back(request, here, "回复内容不能为空。", "error")
    context = desk(request)
    try:
        async with context.transaction() as b:
            row, _conversation = await handoffs.lock(b, handoff_id)
            handoffs.check_may_answer(me, row)
            await handoff.staff_reply(b, handoff_id, staff=me.username, text=text, source=source(request))
    except handoffs.HandoffTaken as taken:
        raise await back(request, here, f"已由 {taken.by} 接手，不能代为回复。", "error") from None
    except handoff.HandoffClosedError:
        raise await back(request, here, "这次人工服务已经结束，回复没有发出。", "error") from None
    context.deployment.dispatcher.wake()
    raise await back(request, here, "回复已发出。")


@guard("staff")
async def close(request: web.Request) -> web.StreamResponse:
    handoff_id, me = await _visible(request)
    here = f"/desk/handoffs/{handoff_id}"
    context = desk(request)
    try:
        async with context.transaction() as b:
            row, conversation = await handoffs.lock(b, handoff_id)
            if row.status == "closed":
                raise await back(request, "/desk/queue", "这次人工服务已经结束。")
            handoffs.check_may_answer(me, row)
            notice = await context.notifier.handoff_closed(b, conversation)
            await handoff.close_handoff(
                b, handoff_id, staff=me.username, notice=notice, source=source(request)
            )
    except handoffs.HandoffTaken as taken:
        raise await back(request, here, f"已由 {taken.by} 接手，不能代为结束。", "error") from None
    context.deployment.dispatcher.wake()
    raise await back(request, "/desk/queue", "已结束人工服务，机器人已接回对话并告知市民。")


@guard("staff")
async def open_case(request: web.Request) -> web.StreamResponse:
    """Register what the citizen told staff as a case, and send them its number and query password."""
    handoff_id, me = await _visible(request)
    here = f"/desk/handoffs/{handoff_id}"
    form = await request.post()
    kind = form_text(form, "kind", limit=16)
    description = form_text(form, "description", limit=MAX_REPLY)
    department = me.department if not me.sees_all else (form_text(form, "department", limit=128) or None)
    if kind not in CASE_KINDS or (kind == "tip" and not me.sees_all):
        raise await back(request, here, "请选择案件类型。", "error")
    if not description:
        raise await back(request, here, "案件内容不能为空。", "error")
    context = desk(request)
    if department is not None and department not in context.departments():
        raise await back(request, here, "没有这个部门。", "error")
    async with context.transaction() as b:
        row, conversation = await handoffs.lock(b, handoff_id)
        handoffs.check_may_answer(me, row)
        address = b.keyring.decrypt(conversation.address_enc)
        draft = CaseDraft(
            bot_id=conversation.bot_id,
            kind=kind,
            description=description,
            department=department,
            contact=Contact(conversation.channel, address, conversation.id),
        )
        receipt = await cases.submit(b, draft)
        notice = await context.notifier.case_opened(b, conversation, receipt)
        await audit.record(
            b,
            actor=me.username,
            action=handoffs.TO_CASE,
            target_type="handoff",
            target_id=str(handoff_id),
            detail={
                "case_id": receipt.case_id,
                "number": receipt.number,
                "kind": kind,
                "department": department,
                "notice_outbox_id": notice.id,
            },
            source=source(request),
        )
    context.deployment.dispatcher.wake()
    message = f"已立案，编号 {receipt.number}；编号和查询密码已发给市民。"
    raise await back(request, f"/desk/cases/{receipt.case_id}", message)
