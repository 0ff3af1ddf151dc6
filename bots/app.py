"""The aiohttp application: every channel's routes, a health check, and the outbox dispatcher alongside.

Request bodies are capped small (citizens send words, not files: attachments stay at the platforms),
and what a client gets wrong is answered with a 4xx JSON error, never a 500 with a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy import text

from bots import scheduler
from bots.bootstrap import Deployment
from bots.desk import mount as mount_desk
from bots.pipeline import UnknownBot

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
DEPLOYMENT = web.AppKey("deployment", Deployment)
_STOP_GRACE_SECONDS = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(deployment: Deployment, *, dispatch: bool = True) -> web.Application:
    """The app for `deployment`; it owns the deployment and closes its database on cleanup."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[json_errors])
    app[DEPLOYMENT] = deployment
    app.router.add_get("/", home)
    app.router.add_get("/healthz", health)
    for name, channel in deployment.channels.items():
        app.add_routes(channel.routes(deployment.context_for(name)))
    mount_desk(app, deployment)  # the staff desk under /desk
    if dispatch:
        app.cleanup_ctx.append(_dispatcher)
        app.cleanup_ctx.append(scheduler.in_app(deployment))
    app.on_cleanup.append(_close)
    return app


async def home(request: web.Request) -> web.StreamResponse:
    deployment = request.app[DEPLOYMENT]
    for bot_id, channels in deployment.bot_channels.items():
        if "webchat" in channels:
            raise web.HTTPFound(f"/chat/{bot_id}")
    return web.json_response({"error": "no_web_chat"}, status=404)


async def health(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[DEPLOYMENT].services.database.reading() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy", which is all this answers
        log.warning("health check: database unavailable (%s)", type(exc).__name__)
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and _wants_json(request):
            return _error(exc.status, exc.reason.lower().replace(" ", "_"))
        raise
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "malformed_json")
    except UnknownBot:
        return _error(404, "unknown_bot")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # Where it broke, without the exception's message: that may quote a citizen's words or address.
        where = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)[-5:]))
        log.error("%s %s failed with %s\n%s", request.method, request.path, type(exc).__name__, where)
        return _error(500, "internal_error")


def _wants_json(request: web.Request) -> bool:
    return (
        "/api/" in request.path
        or request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
    )


def _error(status: int, code: str) -> web.Response:
    return web.json_response({"error": code}, status=status)


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    deployment = app[DEPLOYMENT]
    stop = asyncio.Event()
    task = asyncio.create_task(deployment.dispatcher.run(stop), name="outbox-dispatcher")
    yield
    stop.set()
    try:
        await asyncio.wait_for(task, _STOP_GRACE_SECONDS)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _close(app: web.Application) -> None:
    await app[DEPLOYMENT].close()


class AccessLogger(AbstractAccessLogger):
    """Method, path and status only: query strings carry web chat session ids, addresses identify people.

    Every open chat page polls every few seconds; those successful polls are logged at DEBUG only, so
    the log at INFO still shows what people did.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        polled = request.method == "GET" and request.path.endswith("/api/messages")
        routine = polled and response.status == 200
        level = logging.DEBUG if routine else logging.INFO
        self.logger.log(level, "%s %s %s %.0fms", request.method, request.path, response.status, time * 1000)
