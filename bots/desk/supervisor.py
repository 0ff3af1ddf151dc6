"""Supervisors' views: warning cards and deadlines (yellow / red), and the satisfaction dashboard."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bots.desk import charts, labels, ratings_stats
from bots.desk.context import desk, source, viewer
from bots.desk.ratings_stats import RatingFilters
from bots.desk.render import back, render
from bots.desk.security import guard
from core import audit, deadlines, ratings
from core.deadlines import Standing
from storage.models import DepartmentWarning

# How each deadline standing looks: 临期 amber, 超期 yellow card, 严重超期 red card.
STANDING = {
    Standing.DUE_SOON: ("临期", "amber"),
    Standing.OVERDUE: ("超期", "yellow"),
    Standing.LONG_OVERDUE: ("严重超期", "red"),
}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/warnings", warnings_page, name="warnings"),
        web.post("/warnings/{id:\\d+}/resolve", resolve_warning),
        web.get("/ratings", ratings_page, name="ratings"),
    ]


@guard("supervisor")
async def warnings_page(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    department = request.query.get("department", "").strip()[:128] or None
    async with context.reading() as b:
        cards = await ratings.warnings(b, department=department)
        due = await deadlines.overview(b, department=department, today=context.today())
    return await render(
        request,
        "warnings.html",
        {
            "cards": cards,
            "deadlines": due,
            "standing": STANDING,
            "stage": labels.STAGE,
            "department": department or "",
            "departments": context.departments(),
        },
    )


@guard("supervisor")
async def resolve_warning(request: web.Request) -> web.StreamResponse:
    """A supervisor has followed a card up; it leaves the open list but stays on record."""
    context = desk(request)
    me = viewer(request)
    warning_id = int(request.match_info["id"])
    async with context.transaction() as b:
        warning = await b.session.scalar(
            select(DepartmentWarning).where(DepartmentWarning.id == warning_id).with_for_update()
        )
        if warning is None:
            raise web.HTTPNotFound()
        if warning.resolved_at is None:
            warning.resolved_at = context.now()
            await audit.record(
                b,
                actor=me.username,
                action="warning.resolve",
                target_type="warning",
                target_id=str(warning_id),
                detail={"department": warning.department, "kind": warning.kind, "level": warning.level},
                source=source(request),
            )
    raise await back(request, "/desk/warnings", "已处理该预警。")


@guard("supervisor")
async def ratings_page(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    filters = RatingFilters.parse(request.query)
    async with context.reading() as b:
        board = await ratings_stats.dashboard(b, filters, context.now(), context.zone)
    return await render(
        request,
        "ratings.html",
        {
            "filters": filters,
            "board": board,
            "line": charts.line_chart(board.buckets, board.series, board.bucket_label),
            "bars": charts.bar_chart(board.groups),
            "percent": charts.percent,
            "periods": ratings_stats.PERIODS,
            "groups": ratings_stats.GROUPS,
            "departments": context.departments(),
            "grades": labels.GRADE,
        },
    )
