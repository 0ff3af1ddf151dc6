"""A fake Telegram Bot API on 127.0.0.1: records every call, answers like Telegram, fails on request.

It speaks the wire format aiogram uses (form fields, JSON-serialized objects in fields such as
`reply_markup`) and Telegram's answers (`{"ok": true, "result": ...}` or `{"ok": false, "error_code",
"description", "parameters": {"retry_after"}}`). `getUpdates` serves queued updates from the offset it
is given, forgetting the ones below it as Telegram does, and long-polls when there are none.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

_JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "link_preview_options", "reply_parameters"})
START_DATE = 1772413200  # 2026-03-02 01:00 UTC, the tests' clock


@dataclass(frozen=True)
class Call:
    """One request as Telegram would read it: the method and its parameters, JSON fields decoded."""

    token: str
    method: str
    params: dict[str, Any]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


@dataclass
class FakeTelegram:
    token: str
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    max_long_poll: float = 2.0  # cap on a getUpdates wait, so a test never hangs on it
    _failures: dict[str, deque[Failure | None]] = field(default_factory=dict)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    # ---------------------------------------------------------------- control

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer `times` calls of `method` with this error, once `after` more have been answered normally."""
        queue = self._failures.setdefault(method, deque())
        queue.extend(None for _ in range(after))
        queue.extend(Failure(status, description, retry_after) for _ in range(times))

    def push_update(self, update: dict[str, Any]) -> None:
        self.updates.append(update)
        self._arrived.set()

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def base_url(self) -> str:
        assert self.server is not None, "start() the fake first"
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> FakeTelegram:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    # ---------------------------------------------------------------- the API

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append(Call(token, method, params))
        if token != self.token:
            return _error(401, "Unauthorized")
        queued = self._failures.get(method)
        failure = queued.popleft() if queued else None
        if failure is not None:
            return _error(failure.status, failure.description, failure.retry_after)
        handler = {
            "sendMessage": self._send_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
        }.get(method)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(params)

    async def _send_message(self, params: dict[str, Any]) -> web.Response:
        if not str(params.get("text", "")).strip():
            return _error(400, "Bad Request: message text is empty")
        message = {
            "message_id": next(self._message_ids),
            "date": START_DATE,
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Bot"},
            "text": params["text"],
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return _ok(message)

    async def _answer_callback_query(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0))
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed: forgotten
        if not self.updates:
            self._arrived.clear()
            wait = min(float(params.get("timeout", 0)), self.max_long_poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait)
        return _ok([u for u in self.updates if u["update_id"] >= offset][:100])

    async def _set_webhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params
        return _ok(True, description="Webhook was set")

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return _ok(True, description="Webhook was deleted")


async def start_fake(token: str) -> FakeTelegram:
    return await FakeTelegram(token).start()


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        text = value if isinstance(value, str) else value.file.read().decode()
        params[key] = json.loads(text) if key in _JSON_FIELDS else text
    for key, value in request.query.items():
        params.setdefault(key, value)
    return params


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return web.json_response(body)


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
