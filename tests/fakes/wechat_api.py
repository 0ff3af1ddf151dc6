"""A local stand-in for api.weixin.qq.com/cgi-bin: access tokens, customer-service messages, menus.

It speaks WeChat's wire format (JSON with errcode / errmsg, the token in the query string), records every
request, honours only the token it issued last, and answers with whatever errors a test queues.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret-0123456789abcdef"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeWeChatApi:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    requests: list[Recorded] = field(default_factory=list)
    tokens_issued: int = 0
    current_token: str | None = None
    # Answers for the next API calls (not token fetches): (HTTP status, JSON body or raw text).
    _queued: deque[tuple[int, Any]] = field(default_factory=deque)
    _server: TestServer | None = None

    # ---- what tests tell it

    def fail_next(self, errcode: int, errmsg: str = "error", *, status: int = 200) -> None:
        self._queued.append((status, {"errcode": errcode, "errmsg": errmsg}))

    def answer_next(self, status: int, body: str) -> None:
        self._queued.append((status, body))

    def expire_token(self) -> None:
        """The token issued last stops working, as after two hours or another process fetching one."""
        self.current_token = None

    # ---- what tests read

    @property
    def api_base(self) -> str:
        assert self._server is not None, "start the fake first"
        return str(self._server.make_url("/cgi-bin/"))

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    @property
    def sent(self) -> list[Any]:
        """Bodies the customer-service endpoint accepted or refused, in order."""
        return [r.json() for r in self.calls("/cgi-bin/message/custom/send")]

    # ---- the server

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._api)
        app.router.add_post("/cgi-bin/menu/create", self._api)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _record(self, request: web.Request) -> Recorded:
        recorded = Recorded(request.method, request.path, dict(request.query), await request.read())
        self.requests.append(recorded)
        return recorded

    async def _token(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        query = recorded.query
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.app_id:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.tokens_issued += 1
        self.current_token = f"TOKEN-{self.tokens_issued}"
        return web.json_response({"access_token": self.current_token, "expires_in": 7200})

    async def _api(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if recorded.query.get("access_token") != self.current_token:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        try:
            json.loads(recorded.body)
        except ValueError:
            return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        if self._queued:
            status, body = self._queued.popleft()
            if isinstance(body, str):
                return web.Response(status=status, text=body)
            return web.json_response(body, status=status)
        return web.json_response({"errcode": 0, "errmsg": "ok"})
