"""Twilio's and WeChat's sending APIs as one local server that several Sunshine processes use at once.

The per-test fakes in `tests/fakes` serve one process; this one serves a whole deployment:
- it honours every WeChat access token it issued (as WeChat does for a while after a new one), so six
  processes each fetching their own token do not lock each other out;
- it tells the processes apart: each is started with its own WeChat app secret, and a token belongs to
  the secret it was fetched with, so every WeChat delivery names the process that sent it;
- it can hold sends unanswered, to catch a worker in the middle of a batch;
- a message counts as delivered only when the platform answered it: a held send whose worker died
  before the answer is recorded as aborted, a request the platform never completed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.wechat_api import APP_ID

_DATE = "Mon, 02 Mar 2026 01:00:00 +0000"


@dataclass(frozen=True)
class Delivery:
    channel: str  # "sms" or "wechat"
    to: str  # phone number or openid
    text: str
    process: str  # who sent it (WeChat only; SMS processes share one account): "web-1", "worker-2"...
    at: float  # time.monotonic() when the platform answered


@dataclass
class Platforms:
    wechat_secrets: Mapping[str, str]  # app secret → process name
    delivered: list[Delivery] = field(default_factory=list)
    aborted: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what was answered with an error, and why
    hold: bool = False  # answer no send until released (or until its sender hangs up)
    _tokens: dict[str, str] = field(default_factory=dict)  # access token → process name
    _arrivals: dict[str, asyncio.Event] = field(default_factory=dict)
    _server: TestServer | None = None
    held_now: int = 0

    # ---- what tests read

    @property
    def base(self) -> str:
        assert self._server is not None, "start the platforms first"
        return str(self._server.make_url("")).rstrip("/")

    @property
    def wechat_api_base(self) -> str:
        return f"{self.base}/cgi-bin/"

    def to(self, address: str) -> list[Delivery]:
        return [d for d in self.delivered if d.to == address]

    async def wait_for_more(self, address: str, seen: int, timeout: float) -> list[Delivery]:
        """Deliveries to `address` once there are more than `seen`; TimeoutError when none come."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.to(address)
            if len(got) > seen:
                return got
            event = self._arrivals.setdefault(address, asyncio.Event())
            event.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no new message for {address} within {timeout:.0f}s (had {seen})")
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue

    # ---- the server

    async def start(self) -> Platforms:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._twilio_create)
        app.router.add_get("/cgi-bin/token", self._wechat_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._wechat_send)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _answered(self, request: web.Request, delivery: Delivery) -> bool:
        """Wait while sends are held; False (and recorded as aborted) when the sender hung up first."""
        self.held_now += 1
        try:
            while self.hold and not _gone(request):
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:  # aiohttp may cancel the handler of a connection that closed
            self.aborted.append(delivery)
            raise
        finally:
            self.held_now -= 1
        if _gone(request):
            self.aborted.append(delivery)
            return False
        delivery = Delivery(delivery.channel, delivery.to, delivery.text, delivery.process, time.monotonic())
        self.delivered.append(delivery)
        self._arrivals.setdefault(delivery.to, asyncio.Event()).set()
        return True

    async def _twilio_create(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if _basic_auth(request.headers.get("Authorization", "")) != (ACCOUNT_SID, AUTH_TOKEN):
            self.refused.append("twilio: bad credentials")
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not await self._answered(request, Delivery("sms", to, body, "?", 0.0)):
            return web.Response(status=499)
        sid = "SM" + uuid.uuid4().hex
        return web.json_response(
            {
                "account_sid": ACCOUNT_SID,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": _DATE,
                "date_sent": None,
                "date_updated": _DATE,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {},
                "to": to,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
            status=201,
        )

    async def _wechat_token(self, request: web.Request) -> web.StreamResponse:
        process = self.wechat_secrets.get(request.query.get("secret", ""))
        if request.query.get("appid") != APP_ID or process is None:
            self.refused.append("wechat: token for an unknown app secret")
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"TOKEN-{process}-{uuid.uuid4().hex[:8]}"
        self._tokens[token] = process
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _wechat_send(self, request: web.Request) -> web.StreamResponse:
        process = self._tokens.get(request.query.get("access_token", ""))
        if process is None:
            self.refused.append("wechat: unknown access token")
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        message: dict[str, Any] = json.loads(await request.read())
        delivery = Delivery("wechat", message["touser"], message["text"]["content"], process, 0.0)
        if not await self._answered(request, delivery):
            return web.Response(status=499)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    user, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    return (user, password) if sep else None
