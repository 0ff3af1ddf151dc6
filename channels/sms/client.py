"""The Twilio REST client that sends outbox messages, and what Twilio's answers mean for the outbox.

twilio's own aiohttp client is used as it is, with small corrections: its request timeout is applied (the
library passes the per-call value, None, which aiohttp takes as "wait forever"), credentials go as a
header (aiohttp deprecates the BasicAuth object), and the headers of the last answer are kept for the
calling task, because a 429's Retry-After is not in the exception twilio raises.
"""

from __future__ import annotations

import base64
import contextvars
import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import Delivery
from channels.sms.settings import SmsSettings

UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient": the number replied STOP
TOO_MANY_REQUESTS = 20429
MAX_RETRY_AFTER = 3600.0

# Short reasons for the errors an operator will meet; Twilio's own message is never kept, because it
# quotes the phone number and the error lands in the outbox row in clear.
REASONS: Mapping[int, str] = {
    UNSUBSCRIBED: "recipient unsubscribed (replied STOP)",
    TOO_MANY_REQUESTS: "too many requests",
    20003: "authentication failed (account SID / auth token)",
    21211: "invalid 'To' number",
    21408: "sending to this region is not enabled",
    21606: "the 'From' number cannot send SMS",
    21612: "cannot route to this number",
    21614: "'To' is not a mobile number",
    21617: "body too long",
    30003: "unreachable handset",
    30004: "message blocked",
    30005: "unknown handset",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier",
    30008: "unknown error",
}

_last_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "twilio_last_headers", default=None
)


class _HttpClient(AsyncTwilioHttpClient):
    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        _last_headers.set(None)
        if auth is not None:  # as a header: aiohttp deprecates the BasicAuth object twilio would pass
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        _last_headers.set(response.headers)
        return response


class TwilioSender:
    """One bot's client; made inside the running event loop (its connection pool belongs to that loop)."""

    def __init__(self, settings: SmsSettings, *, timeout: float) -> None:
        self.http = _HttpClient(timeout=timeout)
        self.client = Client(
            username=settings.account_sid,
            password=settings.auth_token.get_secret_value(),
            account_sid=settings.account_sid,
            http_client=self.http,
        )
        if settings.api_base:
            # Every REST call is built on the Api domain's base URL ("https://api.twilio.com"); an edge
            # or region from the environment would rewrite the host again, so none applies here.
            self.client.api.base_url = settings.api_base
            self.client.edge = None
            self.client.region = None

    async def create(self, **fields: Any) -> str:
        """Create one message; its SID. Raises what twilio raises."""
        message = await self.client.messages.create_async(**fields)
        if not message.sid:
            raise TwilioRestException(502, "", "no message SID in Twilio's answer", None, "POST")
        return message.sid

    async def close(self) -> None:
        await self.http.close()


def delivery_for(exc: TwilioRestException | TwilioServiceException) -> Delivery:
    """What a refused message means: 429 and 5xx are worth another try, any other 4xx is not."""
    status = int(exc.status or 0)
    code = _code(exc.code)
    label = f"{code} " if code is not None else ""
    reason = REASONS.get(code or 0, f"HTTP {status}")
    error = f"{label}{reason}".strip()
    if code == UNSUBSCRIBED:
        return Delivery(ok=False, error=error, retry=False)
    if status == 429 or code == TOO_MANY_REQUESTS:
        return Delivery(ok=False, error=error, retry=True, retry_after=retry_after(_last_headers.get()))
    return Delivery(ok=False, error=error, retry=status >= 500 or status == 408)


def is_unsubscribed(exc: TwilioRestException | TwilioServiceException) -> bool:
    return _code(exc.code) == UNSUBSCRIBED


def retry_after(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), within sane bounds."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _code(value: object) -> int | None:
    """Twilio's error code; twilio fills in the HTTP status when the answer had none, which is no code."""
    try:
        code = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return code if code >= 10000 else None
