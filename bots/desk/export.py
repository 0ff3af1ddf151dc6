"""CSV exports for supervisors: cases (with the list's filters), ratings, satisfaction per group, warnings.

Files open in Excel as they are (UTF-8 with a byte-order mark), and a cell that starts like a formula
is prefixed with an apostrophe: a citizen who types "=HYPERLINK(...)" gets text, not a live formula,
in a supervisor's spreadsheet. No export carries a tip's reporter, contact or channel.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bots.desk import case_queries, labels, ratings_stats
from bots.desk.case_queries import CaseFilters
from bots.desk.cases import channels
from bots.desk.context import desk, source, viewer
from bots.desk.ratings_stats import RatingFilters
from bots.desk.scope import identity_is_secret
from bots.desk.security import guard
from core import audit, ratings
from core.receipts import format_case_number

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/export/cases.csv", export_cases),
        web.get("/export/ratings.csv", export_ratings),
        web.get("/export/satisfaction.csv", export_satisfaction),
        web.get("/export/warnings.csv", export_warnings),
    ]


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _download(body: bytes, name: str) -> web.Response:
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _audit(request: web.Request, what: str, count: int, query: dict[str, str]) -> None:
    me = viewer(request)
    async with desk(request).transaction() as b:
        await audit.record(
            b,
            actor=me.username,
            action="export." + what,
            target_type="export",
            target_id=what,
            detail={"rows": count, "filters": query},
            source=source(request),
        )


@guard("supervisor")
async def export_cases(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    filters = CaseFilters.parse(request.query, channels(context))
    zone = context.zone
    today = context.today()
    async with context.reading() as b:
        found = await case_queries.all_of(b, viewer(request), filters, today)
        primaries = await case_queries.numbers_of(
            b, {case.primary_id for case, _ in found if case.primary_id}
        )
    header = [
        "编号",
        "类型",
        "状态",
        "承办部门",
        "渠道",
        "提交时间",
        "答复期限",
        "超期",
        "办结时间",
        "并入",
        "内容",
    ]
    rows = [
        [
            format_case_number(case.number),
            labels.label(labels.CASE_KIND, case.kind),
            labels.label(labels.CASE_STATUS, case.status),
            case.department or "",
            "保密" if identity_is_secret(case) else labels.label(labels.CHANNEL, channel),
            labels.local(case.created_at, zone, with_year=True),
            labels.day(case.due_on),
            "是" if case.status in labels.OPEN_STATUSES and case.due_on < today else "",
            labels.local(case.closed_at, zone, with_year=True),
            format_case_number(primaries[case.primary_id]) if case.primary_id in primaries else "",
            case.description,
        ]
        for case, channel in found
    ]
    # The search words stay out of the trail: they may be a name or an ID number someone looked for.
    await _audit(request, "cases", len(rows), filters.as_query(q=""))
    return _download(to_csv(header, rows), f"cases-{today.isoformat()}.csv")


def _since(filters: RatingFilters, now: datetime, zone: ZoneInfo) -> datetime:
    first = now.astimezone(zone).date() - timedelta(days=filters.days - 1)
    return datetime.combine(first, datetime.min.time(), tzinfo=zone)


@guard("supervisor")
async def export_ratings(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    filters = RatingFilters.parse(request.query)
    async with context.reading() as b:
        found = await ratings_stats.ratings_in(b, filters, _since(filters, context.now(), context.zone))
    header = ["时间", "部门", "窗口", "工作人员", "评分", "评价", "原因", "渠道"]
    rows = [
        [
            labels.local(rating.created_at, context.zone, with_year=True),
            rating.department,
            rating.window or "",
            rating.staff_name or "",
            rating.grade,
            labels.GRADE.get(rating.grade, ""),
            rating.reason or "",
            labels.label(labels.CHANNEL, rating.channel),
        ]
        for rating in found
    ]
    await _audit(request, "ratings", len(rows), filters.as_query())
    return _download(to_csv(header, rows), f"ratings-{context.today().isoformat()}.csv")


@guard("supervisor")
async def export_satisfaction(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    filters = RatingFilters.parse(request.query)
    async with context.reading() as b:
        board = await ratings_stats.dashboard(b, filters, context.now(), context.zone)
    group = ratings_stats.GROUPS[filters.group]
    header = [group, "满意", "基本满意", "不满意", "很差", "合计", "满意率"]
    rows = [
        [
            row.name,
            *(row.tally.counts[grade] for grade in (1, 2, 3, 4)),
            row.tally.total,
            "" if row.tally.rate is None else f"{row.tally.rate:.4f}",
        ]
        for row in board.groups
    ]
    overall = board.overall
    rows.append(
        [
            "全部",
            *(overall.counts[grade] for grade in (1, 2, 3, 4)),
            overall.total,
            "" if overall.rate is None else f"{overall.rate:.4f}",
        ]
    )
    await _audit(request, "satisfaction", len(rows), filters.as_query())
    return _download(to_csv(header, rows), f"satisfaction-{context.today().isoformat()}.csv")


@guard("supervisor")
async def export_warnings(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    async with context.reading() as b:
        cards = await ratings.warnings(b, open_only=False)
    header = ["时间", "部门", "类型", "级别", "案件", "评分", "原因", "已处理"]
    rows = [
        [
            labels.local(card.created_at, context.zone, with_year=True),
            card.department,
            labels.label(labels.WARNING_KIND, card.kind),
            labels.label(labels.WARNING_LEVEL, card.level),
            card.case_id or "",
            card.detail.get("grade", ""),
            card.detail.get("reason", ""),
            labels.local(card.resolved_at, context.zone, with_year=True),
        ]
        for card in cards
    ]
    await _audit(request, "warnings", len(rows), {})
    return _download(to_csv(header, rows), f"warnings-{context.today().isoformat()}.csv")
