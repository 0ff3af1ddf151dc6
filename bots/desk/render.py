"""Pages: one render function that gives every template the viewer, the CSRF token, flash messages and
the label tables, and the post/redirect/get helpers the action handlers share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import aiohttp_session
import jinja2
from aiohttp import web

from bots.desk import labels
from bots.desk.context import VIEWER, desk
from bots.desk.security import CSRF_FIELD, csrf_token
from core.receipts import format_case_number

TEMPLATES = Path(__file__).with_name("templates")
_FLASH = "flash"


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every citizen-supplied text is escaped; nothing is ever marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        default_helpers=False,
    )
    env.globals.update(L=labels, label=labels.label, waited=labels.waited, CSRF_FIELD=CSRF_FIELD)
    env.filters.update(local=labels.local, day=labels.day, actor=labels.actor, case_number=format_case_number)


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    session = await aiohttp_session.get_session(request)
    flashes = session.pop(_FLASH, []) if _FLASH in session else []
    here = desk(request)
    page = {
        "viewer": request.get(VIEWER),
        "csrf": await csrf_token(request),
        "flashes": flashes,
        "zone": here.zone,
        "now": here.now(),
        "path": request.path,
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, page, status=status)


async def flash(request: web.Request, text: str, level: str = "ok") -> None:
    """A one-line result shown on the next page: "已受理", or what went wrong."""
    session = await aiohttp_session.get_session(request)
    pending = list(session.get(_FLASH, []))
    pending.append([level, text])
    session[_FLASH] = pending[-5:]


async def back(request: web.Request, to: str, text: str | None = None, level: str = "ok") -> web.HTTPSeeOther:
    """Post/redirect/get: a reload never repeats an action."""
    if text:
        await flash(request, text, level)
    return web.HTTPSeeOther(to)
