"""A local stand-in for Twilio's REST API: the Messages resource of API version 2010-04-01.

It speaks Twilio's wire format (HTTP basic auth with the account SID and auth token, a form-encoded
body, a JSON message resource or a JSON error with `code` / `message` / `status`), records every
request, and answers with whatever errors, delays or headers a test queues.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
_DATE = "Mon, 02 Mar 2026 01:00:00 +0000"


@dataclass(frozen=True)
class Recorded:
    account_sid: str
    credentials: tuple[str, str] | None
    form: list[tuple[str, str]]  # every field in the order sent, repeated names included
    at: float  # the event loop's clock when the request arrived

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.form)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    delay: float


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # SIDs of the messages it accepted
    _queued: deque[_Answer] = field(default_factory=deque)
    _server: TestServer | None = None

    # ---- what tests tell it

    def fail_next(
        self,
        status: int,
        code: int | None = None,
        message: str = "error",
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next create answers with Twilio's error JSON."""
        body: dict[str, Any] = {"status": status, "message": message}
        if code is not None:
            body.update(code=code, more_info=f"https://www.twilio.com/docs/errors/{code}")
        self._queued.append(_Answer(status, body, headers or {}, 0.0))

    def delay_next(self, seconds: float) -> None:
        """The next create succeeds, but only after `seconds`."""
        self._queued.append(_Answer(201, {}, {}, seconds))

    # ---- what tests read

    @property
    def api_base(self) -> str:
        assert self._server is not None, "start the fake first"
        return str(self._server.make_url("")).rstrip("/")

    @property
    def sent(self) -> list[dict[str, str]]:
        return [r.fields for r in self.requests]

    # ---- the server

    async def start(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._create)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _create(self, request: web.Request) -> web.Response:
        account_sid = request.match_info["account_sid"]
        credentials = _basic_auth(request.headers.get("Authorization", ""))
        form = [(key, str(value)) for key, value in (await request.post()).items()]
        self.requests.append(Recorded(account_sid, credentials, form, asyncio.get_running_loop().time()))
        if credentials != (self.account_sid, self.auth_token) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        answer = self._queued.popleft() if self._queued else None
        if answer is not None and answer.delay:
            await asyncio.sleep(answer.delay)
        elif answer is not None:
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        fields = dict(form)
        if "To" not in fields or not ("From" in fields or "MessagingServiceSid" in fields):
            return _error(400, 21604, "A 'To' and a 'From' or 'MessagingServiceSid' are required")
        sid = "SM" + uuid.uuid4().hex
        self.created.append(sid)
        return web.json_response(
            {
                "account_sid": account_sid,
                "api_version": "2010-04-01",
                "body": fields.get("Body", ""),
                "date_created": _DATE,
                "date_sent": None,
                "date_updated": _DATE,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": fields.get("From"),
                "messaging_service_sid": fields.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
                },
                "to": fields["To"],
                "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
            },
            status=201,
        )


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    user, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    return (user, password) if sep else None


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )
