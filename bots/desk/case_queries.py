"""Finding cases: the list's filters and search, shared by the list page and the CSV export, and the
pieces of a case's detail page (timeline, notice delivery, merged cases)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select

from bots.desk import labels
from bots.desk.context import Viewer
from bots.desk.scope import case_filter
from core.backend import Backend
from core.policy import CASE_KINDS
from storage.models import AuditEvent, Case, CaseEvent, Conversation, OutboxMessage

PAGE_SIZE = 50
_LIKE_SPECIALS = str.maketrans({"%": "\\%", "_": "\\_", "\\": "\\\\"})


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""  # a status, "open" (still being worked on), or "" for all
    kind: str = ""
    department: str = ""
    channel: str = ""
    overdue: bool = False
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str], channels: tuple[str, ...]) -> CaseFilters:
        """Unknown values are dropped rather than refused: a bookmarked URL keeps working."""
        status = query.get("status", "")
        kind = query.get("kind", "")
        channel = query.get("channel", "")
        try:
            page = max(1, min(int(query.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        return cls(
            status=status if status == "open" or status in labels.CASE_STATUS else "",
            kind=kind if kind in CASE_KINDS else "",
            department=query.get("department", "").strip()[:128],
            channel=channel if channel in channels else "",
            overdue=query.get("overdue") in ("1", "on", "true"),
            q=query.get("q", "").strip()[:100],
            page=page,
        )

    def as_query(self, **changes: Any) -> dict[str, str]:
        chosen = replace(self, **changes)
        pairs = {
            "status": chosen.status,
            "kind": chosen.kind,
            "department": chosen.department,
            "channel": chosen.channel,
            "overdue": "1" if chosen.overdue else "",
            "q": chosen.q,
            "page": str(chosen.page) if chosen.page > 1 else "",
        }
        return {key: value for key, value in pairs.items() if value}


def overdue_clause(today: date) -> Any:
    return (Case.due_on < today) & Case.status.in_(labels.OPEN_STATUSES)


def filtered(viewer: Viewer, filters: CaseFilters, today: date) -> Select[Any]:
    """Cases the viewer may see that match the filters, with the channel they came from."""
    query = (
        select(Case, Conversation.channel)
        .outerjoin(Conversation, Conversation.id == Case.conversation_id)
        .where(case_filter(viewer))
    )
    if filters.status == "open":
        query = query.where(Case.status.in_(labels.OPEN_STATUSES))
    elif filters.status:
        query = query.where(Case.status == filters.status)
    if filters.kind:
        query = query.where(Case.kind == filters.kind)
    if filters.department and viewer.sees_all:
        query = query.where(Case.department == filters.department)
    if filters.channel:
        # A tip's channel is part of its reporter's identity: filtering by it would reveal it.
        query = query.where(Conversation.channel == filters.channel, Case.kind != "tip")
    if filters.overdue:
        query = query.where(overdue_clause(today))
    if filters.q:
        digits = "".join(ch for ch in filters.q if ch.isdigit())
        pattern = "%" + filters.q.translate(_LIKE_SPECIALS) + "%"
        matches = [Case.description.ilike(pattern, escape="\\")]
        if len(digits) >= 4 and len(digits) == len(filters.q.replace("-", "").replace(" ", "")):
            matches.append(Case.number.contains(digits))
        query = query.where(or_(*matches))
    return query


async def page_of(
    b: Backend, viewer: Viewer, filters: CaseFilters, today: date
) -> tuple[list[tuple[Case, str | None]], int]:
    base = filtered(viewer, filters, today)
    total = await b.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    query = base.order_by(Case.due_on, Case.id).offset((filters.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    rows = [(case, channel) for case, channel in await b.session.execute(query)]
    return rows, int(total)


async def all_of(
    b: Backend, viewer: Viewer, filters: CaseFilters, today: date
) -> list[tuple[Case, str | None]]:
    query = filtered(viewer, filters, today).order_by(Case.due_on, Case.id)
    return [(case, channel) for case, channel in await b.session.execute(query)]


@dataclass(frozen=True)
class TimelineEntry:
    event: CaseEvent
    what: str
    detail: str
    notice_status: str | None  # delivery of the citizen notice this action sent, if any


async def timeline(b: Backend, case: Case, *, secret_identity: bool) -> list[TimelineEntry]:
    """The case's events with the delivery status of the notice each sent; a tip's channel left out."""
    assert case.id is not None
    events = list(
        await b.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
        )
    )
    notices = await _notice_statuses(b, case.id)
    entries = []
    for event in events:
        entries.append(
            TimelineEntry(
                event=event,
                what=labels.label(labels.EVENT, event.action),
                detail=_describe(event, secret_identity=secret_identity),
                notice_status=notices.get(event.id or 0),
            )
        )
    return entries


def _describe(event: CaseEvent, *, secret_identity: bool) -> str:
    detail = event.detail or {}
    parts: list[str] = []
    if event.action == "submitted":
        parts.append(labels.label(labels.CASE_KIND, detail.get("kind")))
        if detail.get("department"):
            parts.append(str(detail["department"]))
        if detail.get("channel") and not secret_identity:
            parts.append("来自" + labels.label(labels.CHANNEL, str(detail["channel"])))
    elif event.action == "note":
        parts.append(str(detail.get("text", "")))
    else:
        if "from" in detail and "to" in detail:
            before = labels.label(labels.CASE_STATUS, detail["from"])
            parts.append(f"{before} → {labels.label(labels.CASE_STATUS, detail['to'])}")
        if detail.get("department"):
            parts.append(f"承办：{detail['department']}")
        if detail.get("stage") and detail.get("due_on"):
            stage = labels.label(labels.STAGE, str(detail["stage"]))
            level = labels.label(labels.WARNING_LEVEL, detail.get("level"))
            parts.append(f"{stage}期限 {detail['due_on']} {level}".strip())
        parts.append(_link_text(event.action, detail))
    if event.public_text:
        parts.append(event.public_text)
    return "\n".join(part for part in parts if part)


def _link_text(action: str, detail: dict[str, Any]) -> str:
    """Merge and split events name the other case by number, from this case's side."""
    role, primary, duplicate = detail.get("role"), detail.get("primary"), detail.get("duplicate")
    if action == "merged" and role == "duplicate":
        via = f"（随 {detail['via']}）" if detail.get("via") else ""
        return f"并入 {primary}{via}"
    if action == "merged" and role == "primary":
        others = "、".join([str(duplicate), *map(str, detail.get("with") or [])])
        return f"合并了 {others}"
    if action == "split" and role == "duplicate":
        return f"从 {primary} 拆出，单独办理"
    if action == "split" and role == "primary":
        return f"{duplicate} 已拆出"
    return ""


async def _notice_statuses(b: Backend, case_id: int) -> dict[int, str]:
    """Case event id → delivery status of the notice sent with it (recorded in the action's audit row)."""
    rows = list(
        await b.session.scalars(
            select(AuditEvent).where(AuditEvent.target_type == "case", AuditEvent.target_id == str(case_id))
        )
    )
    by_outbox = {
        int(row.detail["notice_outbox_id"]): int(row.detail["event_id"])
        for row in rows
        if row.detail.get("notice_outbox_id") and row.detail.get("event_id")
    }
    if not by_outbox:
        return {}
    statuses = await b.session.execute(
        select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(list(by_outbox)))
    )
    return {by_outbox[outbox_id]: status for outbox_id, status in statuses}


async def related(b: Backend, viewer: Viewer, case: Case) -> tuple[Case | None, list[Case]]:
    """The case this one was merged into, and the cases merged into this one (those the viewer may see)."""
    primary = None
    if case.primary_id is not None:
        primary = await b.session.scalar(select(Case).where(Case.id == case.primary_id, case_filter(viewer)))
    merged = list(
        await b.session.scalars(
            select(Case).where(Case.primary_id == case.id, case_filter(viewer)).order_by(Case.id)
        )
    )
    return primary, merged


async def channel_of(b: Backend, case: Case) -> str | None:
    if case.conversation_id is None:
        return None
    return await b.session.scalar(select(Conversation.channel).where(Conversation.id == case.conversation_id))


async def numbers_of(b: Backend, case_ids: set[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    rows = await b.session.execute(select(Case.id, Case.number).where(Case.id.in_(list(case_ids))))
    return {case_id: number for case_id, number in rows}
