"""The desk as an aiohttp sub-application mounted at /desk: its own session cookies, CSRF checks,
templates and static files, sharing the deployment (database, keys, dispatcher) with the rest."""

from __future__ import annotations

from pathlib import Path

import aiohttp_session
from aiohttp import web

from bots.bootstrap import Deployment
from bots.desk import admin, case_actions, cases, events, export, login, queue, supervisor, surveys
from bots.desk.context import DESK, Desk
from bots.desk.render import render, setup_templates
from bots.desk.security import (
    Handler,
    add_security_headers,
    authenticate,
    cookie_storage,
    protect_from_forgery,
)

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"desk.css": "text/css", "desk.js": "text/javascript"}
_ERRORS = {
    400: "请求有误。",
    401: "登录已过期，请重新登录。",
    403: "没有权限，或表单已过期（请刷新页面后重试）。",
    404: "找不到这个页面，或您没有权限查看。",
    405: "不支持这个操作。",
    409: "操作冲突，请刷新后重试。",
    413: "内容太长。",
    429: "操作太频繁，请稍后再试。",
}


def build_desk(deployment: Deployment) -> web.Application:
    context = Desk.for_deployment(deployment)
    app = web.Application()
    app[DESK] = context
    aiohttp_session.setup(app, cookie_storage(deployment.services.keyring, secure=context.cookie_secure))
    app.middlewares.extend([error_pages, authenticate, protect_from_forgery])
    setup_templates(app)
    app.router.add_get("/static/{name}", static_file)
    for module in (login, queue, events, cases, case_actions, supervisor, surveys, export, admin):
        app.add_routes(module.routes())
    app.on_response_prepare.append(add_security_headers)
    app.on_shutdown.append(_stop_streams)
    return app


def mount(app: web.Application, deployment: Deployment) -> None:
    app.add_subapp("/desk", build_desk(deployment))


async def _stop_streams(app: web.Application) -> None:
    app[DESK].stopping.set()


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
    )


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors as desk pages in Chinese (fetch and JSON callers keep the app's JSON errors)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        wants_json = "application/json" in request.headers.get("Accept", "")
        if exc.status < 400 or wants_json or exc.status not in _ERRORS:
            raise
        return await render(
            request, "error.html", {"status": exc.status, "message": _ERRORS[exc.status]}, status=exc.status
        )
