"""The case list (filters, search, paging) and a case's page (facts, timeline, the actions its status
allows). A tip's reporter block shows only "匿名/保密": the identity and channel address are decrypted
for nobody here, except on the one response to a supervisor's reveal (see case_actions)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from bots.desk import case_queries, labels
from bots.desk.case_queries import CaseFilters
from bots.desk.context import Desk, Viewer, desk, viewer
from bots.desk.render import render
from bots.desk.scope import case_filter, identity_is_secret
from bots.desk.security import guard
from core.backend import Backend
from core.policy import CASE_KINDS
from storage.models import Case

# Which actions each status offers; core.cases enforces the same rules (a test keeps them equal).
ACTIONS_FROM: dict[str, frozenset[str]] = {
    "accept": frozenset({"submitted"}),
    "decline": frozenset({"submitted", "accepted"}),
    "assign": frozenset({"submitted", "accepted", "assigned", "in_progress"}),
    "start": frozenset({"accepted", "assigned"}),
    "reply": frozenset({"submitted", "accepted", "assigned", "in_progress", "replied"}),
    "close": frozenset({"replied", "declined"}),
}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/cases", case_list, name="cases"),
        web.get("/cases/{id:\\d+}", case_page, name="case"),
    ]


def channels(context: Desk) -> tuple[str, ...]:
    names = {name for names in context.deployment.bot_channels.values() for name in names}
    return tuple(sorted(names))


@guard("staff")
async def case_list(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    me = viewer(request)
    filters = CaseFilters.parse(request.query, channels(context))
    async with context.reading() as b:
        rows, total = await case_queries.page_of(b, me, filters, context.today())
    pages = max(1, -(-total // case_queries.PAGE_SIZE))
    return await render(
        request,
        "cases.html",
        {
            "rows": rows,
            "total": total,
            "pages": pages,
            "filters": filters,
            "kinds": CASE_KINDS,
            "statuses": list(labels.CASE_STATUS),
            "channels": channels(context),
            "departments": context.departments(),
            "today": context.today(),
            "secret": identity_is_secret,
        },
    )


async def load_visible(b: Backend, me: Viewer, case_id: int) -> Case:
    """The case, or 404 — the same for one that does not exist and one of another department."""
    case = await b.session.scalar(select(Case).where(Case.id == case_id, case_filter(me)))
    if case is None:
        raise web.HTTPNotFound()
    return case


async def case_context(b: Backend, context: Desk, me: Viewer, case: Case) -> dict[str, Any]:
    secret = identity_is_secret(case)
    primary, merged = await case_queries.related(b, me, case)
    allowed = {name for name, statuses in ACTIONS_FROM.items() if case.status in statuses}
    return {
        "case": case,
        "secret": secret,
        "channel": None if secret else await case_queries.channel_of(b, case),
        "notifies": not case.anonymous and case.contact_enc is not None,
        "has_identity": bool(case.reporter_enc or case.contact_enc),
        "timeline": await case_queries.timeline(b, case, secret_identity=secret),
        "primary": primary,
        "merged": merged,
        "allowed": allowed,
        "departments": context.departments_of(case.bot_id),
        "today": context.today(),
        "revealed": None,
    }


@guard("staff")
async def case_page(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    me = viewer(request)
    async with context.reading() as b:
        case = await load_visible(b, me, int(request.match_info["id"]))
        page = await case_context(b, context, me, case)
    return await render(request, "case.html", page)
