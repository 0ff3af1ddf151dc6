"""What staff do to a case. Each action is one transaction: the change through `core.cases`, the notice
to the citizen (for status changes, unless the tip is fully anonymous), and the audit event with who,
what and from where — all commit together or not at all.

Revealing a tip's reporter is also an action: supervisors only, with a stated reason, audited
("revealed", never the identity itself), and shown on that one response, never stored in a page
anyone can reload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bots import surveys
from bots.desk import cases as case_pages
from bots.desk.context import Desk, Viewer, desk, source, viewer
from bots.desk.render import back, render
from bots.desk.scope import may_see_case
from bots.desk.security import form_text, guard
from core import audit, cases
from core.backend import Backend
from core.cases import CaseNotFound, CaseStateError
from core.receipts import format_case_number
from storage.models import Case, CaseEvent

MAX_TEXT = 4000


class Refused(Exception):
    """The action cannot be done as asked; the message says why, in the clerk's words."""


@dataclass(frozen=True)
class Outcome:
    case: Case
    notify_text: str | None = None  # reason or reply to put in the notice
    notify: bool = True
    detail: dict[str, Any] | None = None
    message: str = ""


Run = Callable[[Backend, Desk, Viewer, Case, Any], Awaitable[Outcome]]


def _actor(me: Viewer) -> str:
    return f"staff:{me.username}"


async def _accept(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    return Outcome(await cases.accept(b, _id(case), _actor(me)), message="已受理。")


async def _decline(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    reason = _needed(form, "reason", "请写明不予受理的原因（市民会看到）。")
    changed = await cases.decline(b, _id(case), _actor(me), reason)
    return Outcome(changed, notify_text=reason, message="已不予受理。")


async def _assign(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    department = _needed(form, "department", "请选择承办部门。")
    known = context.departments_of(case.bot_id)
    if known and department not in known:
        raise Refused("没有这个部门。")
    before = case.department
    changed = await cases.assign(b, _id(case), _actor(me), department)
    return Outcome(changed, detail={"from_department": before}, message=f"已交办{department}。")


async def _start(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    return Outcome(await cases.start(b, _id(case), _actor(me)), message="已开始办理。")


async def _reply(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    text = _needed(form, "text", "答复内容不能为空。")
    changed = await cases.reply(b, _id(case), _actor(me), text)
    return Outcome(changed, notify_text=text, detail={"length": len(text)}, message="已答复。")


async def _close(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    closed = await cases.close(b, _id(case), _actor(me))
    # In the same transaction: a closed case's submitter is asked to rate it exactly once.
    profile = context.deployment.services.profiles.get(case.bot_id)
    await surveys.ask_after_close(
        b,
        _id(case),
        language=profile.default_language if profile else None,
        capabilities=context.deployment.capabilities,
    )
    return Outcome(closed, message="已办结。")


async def _note(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    text = _needed(form, "text", "备注内容不能为空。")
    await cases.add_note(b, _id(case), _actor(me), text)
    return Outcome(case, notify=False, detail={"length": len(text)}, message="备注已保存（市民看不到）。")


async def _merge(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    number = _needed(form, "into", "请填写要并入的案件编号。")
    target = await cases.get_by_number(b, number)
    if target is None or not may_see_case(me, target) or target.id == case.id:
        raise Refused("找不到这个案件编号，或不能并入它。")
    if case.primary_id is not None:
        raise Refused("本案件已并入其他案件，请先拆分。")
    if "closed" in (case.status, target.status):
        raise Refused("已办结的案件不能合并。")
    merged = await cases.merge(b, _id(case), into_id=_id(target), actor=_actor(me))
    return Outcome(
        merged,
        notify=False,
        detail={"into": target.id},
        message=f"已并入案件 {format_case_number(target.number)}。",
    )


async def _split(b: Backend, context: Desk, me: Viewer, case: Case, form: Any) -> Outcome:
    before = case.primary_id
    split = await cases.split(b, _id(case), actor=_actor(me))
    return Outcome(split, notify=False, detail={"from": before}, message="已拆分为独立案件。")


ACTIONS: dict[str, Run] = {
    "accept": _accept,
    "decline": _decline,
    "assign": _assign,
    "start": _start,
    "reply": _reply,
    "close": _close,
    "note": _note,
    "merge": _merge,
    "split": _split,
}


def routes() -> list[web.RouteDef]:
    return [
        web.post("/cases/{id:\\d+}/reveal", reveal),
        web.post("/cases/{id:\\d+}/{action:[a-z]+}", act),
    ]


@guard("staff")
async def act(request: web.Request) -> web.StreamResponse:
    name = request.match_info["action"]
    run = ACTIONS.get(name)
    if run is None:
        raise web.HTTPNotFound()
    context = desk(request)
    me = viewer(request)
    case_id = int(request.match_info["id"])
    here = f"/desk/cases/{case_id}"
    async with context.reading() as b:
        await case_pages.load_visible(b, me, case_id)
    form = await request.post()
    try:
        async with context.transaction() as b:
            case = await case_pages.load_visible(b, me, case_id)
            outcome = await run(b, context, me, case, form)
            notified = await _record(b, context, request, me, name, outcome)
    except Refused as refused:
        raise await back(request, here, str(refused), "error") from None
    except CaseStateError:
        raise await back(request, here, "案件当前状态下不能这样操作，页面已刷新。", "error") from None
    except CaseNotFound:
        raise web.HTTPNotFound() from None
    except ValueError as exc:  # core's own checks (an empty text, a merge it refuses)
        raise await back(request, here, f"无法完成：{exc}", "error") from None
    context.deployment.dispatcher.wake()
    message = outcome.message + ("已通知市民。" if notified else "")
    if not may_see_case(me, outcome.case):  # transferred to another department
        raise await back(request, "/desk/cases", message + "案件已不在本部门。")
    raise await back(request, here, message)


async def _record(
    b: Backend, context: Desk, request: web.Request, me: Viewer, name: str, outcome: Outcome
) -> bool:
    """The notice (when the action changed the status) and the audit event; True when a notice went out."""
    case = outcome.case
    notice_id = None
    if outcome.notify:
        row = await context.notifier.case_status(b, case, text=outcome.notify_text)
        notice_id = row.id if row is not None else None
    event_id = await b.session.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == case.id))
    detail: dict[str, Any] = {"status": case.status, "event_id": event_id, **(outcome.detail or {})}
    if case.department:
        detail["department"] = case.department
    if notice_id is not None:
        detail["notice_outbox_id"] = notice_id
    await audit.record(
        b,
        actor=me.username,
        action=f"case.{name}",
        target_type="case",
        target_id=str(case.id),
        detail=detail,
        source=source(request),
    )
    return notice_id is not None


@guard("supervisor")
async def reveal(request: web.Request) -> web.StreamResponse:
    """Decrypt a tip's reporter and contact for this one response, after recording who asked and why."""
    context = desk(request)
    me = viewer(request)
    case_id = int(request.match_info["id"])
    here = f"/desk/cases/{case_id}"
    reason = form_text(await request.post(), "reason", limit=500)
    if not reason:
        raise await back(request, here, "查看身份必须写明原因。", "error")
    try:
        async with context.transaction() as b:
            case = await case_pages.load_visible(b, me, case_id)
            await audit.record(
                b,
                actor=me.username,
                action="case.reveal",
                target_type="case",
                target_id=str(case_id),
                detail={"reason": reason, "revealed": True},
                source=source(request),
            )
    except ValueError:  # the audit trail refused the reason: it looked like an ID number
        raise await back(request, here, "原因里不要写身份证号码。", "error") from None
    async with context.reading() as b:
        case = await case_pages.load_visible(b, me, case_id)
        page = await case_pages.case_context(b, context, me, case)
        page["revealed"] = _identity(b, case)
    return await render(request, "case.html", page)


def _identity(b: Backend, case: Case) -> dict[str, str]:
    shown: dict[str, str] = {}
    if case.reporter_enc:
        reporter = b.keyring.decrypt_json(case.reporter_enc)
        shown.update({"姓名": str(reporter.get("name", "")), "电话": str(reporter.get("phone", ""))})
    if case.contact_enc:
        contact = b.keyring.decrypt_json(case.contact_enc)
        shown.update({"渠道": str(contact.get("channel", "")), "渠道地址": str(contact.get("address", ""))})
    return {key: value for key, value in shown.items() if value}


def _needed(form: Any, name: str, message: str) -> str:
    value = form_text(form, name, limit=MAX_TEXT)
    if not value:
        raise Refused(message)
    return value


def _id(case: Case) -> int:
    if case.id is None:
        raise RuntimeError("case has no id")
    return case.id
