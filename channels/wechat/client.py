"""The official account's API through wechatpy: access tokens, customer-service messages, the menu.

wechatpy's client is synchronous (requests), so everything here blocks and is meant to run in a worker
thread (`asyncio.to_thread`), never on the event loop. Three things are changed from its defaults:
- the API address is configurable (`api_base`), token fetches included, so tests talk to a local fake;
- every HTTP call has a timeout (wechatpy's token fetch has none, and a hung thread is never freed);
- wechatpy's own retry on an expired token is off: it retries without end while WeChat keeps refusing
  the token. Here a refused token is refreshed once and the call repeated once.

The token lives in this process's memory (wechatpy's MemoryStorage). Processes do not share it: each
fetches its own, and WeChat keeps an old token valid for five minutes after a new one is issued, so a
process whose token was replaced by another's just refreshes once on its next call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from channels.base import Delivery

# The token was refused: invalid credential (40001), invalid token (40014), expired token (42001).
TOKEN_REFUSED = frozenset({40001, 40014, 42001})
# Answers no retry can change; the outbox marks the row undeliverable with the reason for staff.
PERMANENT = frozenset(
    {
        40003,  # not an openid of this account
        43004,  # the citizen does not follow the account (any more)
        45002,  # content too long
        45015,  # outside the 48 hours after the citizen's last message
        45047,  # too many customer-service messages since the citizen's last message
    }
)
API_QUOTA = 45009  # the account's daily API call quota is used up
QUOTA_WAIT_SECONDS = 600.0
MAX_ERROR_CHARS = 200


class UnexpectedAnswer(Exception):
    """WeChat answered with something that is not its JSON."""


class _TimeoutSession(requests.Session):
    """requests without a timeout waits forever; wechatpy's token fetch passes none."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._default_timeout
        return super().request(method, url, *args, **kwargs)


class _Client(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with its API address (token endpoint included) taken from the settings."""

    def __init__(self, app_id: str, secret: str, *, api_base: str, timeout: float) -> None:
        super().__init__(app_id, secret, session=MemoryStorage(), timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base  # read by wechatpy's _request for every relative endpoint
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict[str, Any]:
        return dict(
            self._fetch_access_token(
                url=f"{self.API_BASE_URL}token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
        )


class WeChatApi:
    """One official account's API; thread-safe, blocking."""

    def __init__(self, app_id: str, app_secret: str, *, api_base: str, timeout: float) -> None:
        self._client = _Client(app_id, app_secret, api_base=api_base, timeout=timeout)
        self._lock = threading.Lock()  # one token fetch at a time: each fetch replaces the last token

    def send_text(self, openid: str, content: str) -> None:
        self._call(lambda: self._client.message.send_text(openid, content))

    def create_menu(self, menu: Mapping[str, Any]) -> None:
        self._call(lambda: self._client.menu.create(dict(menu)))

    def _call(self, call: Callable[[], Any]) -> dict[str, Any]:
        used = self._token()
        try:
            return _checked(call())
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_REFUSED:
                raise
        self._refresh(used)
        return _checked(call())

    def _token(self) -> str:
        with self._lock:
            return str(self._client.access_token)  # fetched when missing or about to expire

    def _refresh(self, refused: str) -> None:
        with self._lock:
            # Another thread may have refreshed it meanwhile; fetching again would only replace theirs.
            if self._client.session.get(self._client.access_token_key) == refused:
                self._client.fetch_access_token()


def _checked(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise UnexpectedAnswer("the answer was not JSON")
    return result


def delivery_for(exc: BaseException) -> Delivery:
    """What a failed API call means for the outbox row: retry later, or give up with the reason."""
    if isinstance(exc, WeChatClientException):
        if exc.errcode is None:  # an HTTP error status, before any JSON
            status = getattr(exc.response, "status_code", None)
            transient = status is None or status >= 500 or status in (408, 429)
            return Delivery(ok=False, error=f"HTTP {status}", retry=transient)
        try:
            code = int(exc.errcode)
        except (TypeError, ValueError):
            return Delivery(ok=False, error=_clip(f"errcode {exc.errcode!r}"), retry=True)
        error = _clip(f"{code} {exc.errmsg}")
        if code in PERMANENT:
            return Delivery(ok=False, error=error, retry=False)
        if code == API_QUOTA:
            return Delivery(ok=False, error=error, retry=True, retry_after=QUOTA_WAIT_SECONDS)
        return Delivery(ok=False, error=error, retry=True)  # -1 system busy, a refused token again...
    if isinstance(exc, requests.Timeout):
        return Delivery(ok=False, error="timeout", retry=True)
    if isinstance(exc, requests.RequestException):
        return Delivery(ok=False, error=f"network: {type(exc).__name__}", retry=True)
    if isinstance(exc, UnexpectedAnswer):
        return Delivery(ok=False, error=str(exc), retry=True)
    return Delivery(ok=False, error=f"exception: {type(exc).__name__}", retry=True)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
