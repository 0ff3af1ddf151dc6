"""Reading a Twilio webhook: the body within limits, its form fields, and its signature.

Twilio signs the URL it called plus the sorted form fields with the account's auth token. Behind a
reverse proxy the URL this process sees (internal host, http) is not the one Twilio called, so the URL
is rebuilt from the configured public base address and the request's raw path and query; the Host
header is used only when no public address is configured at all.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

MAX_BODY = 64 * 1024  # an SMS webhook is a few hundred bytes; ten media URLs stay far below this
MAX_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"
SIGNATURE_HEADER = "X-Twilio-Signature"


class Rejected(Exception):
    """A request answered with an error status before anything was done with it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.reason)


async def read_form(request: web.Request) -> MultiDict[str]:
    """The form fields of a Twilio webhook; Rejected (413, 400) for a body too big or not a UTF-8 form."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Rejected(413, "body too large")
    body = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > MAX_BODY:
            raise Rejected(413, "body too large")
    if body and request.content_type != FORM_TYPE:
        raise Rejected(400, "expected a form")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeError, ValueError):
        raise Rejected(400, "malformed form") from None
    return MultiDict(pairs)


def public_url(request: web.Request, public_base_url: str | None) -> str:
    """The URL Twilio called: the public base address plus the path and query as they were sent."""
    if public_base_url:
        return public_base_url.rstrip("/") + request.raw_path
    return str(request.url)


def verify(request: web.Request, form: MultiDict[str], auth_token: str, public_base_url: str | None) -> None:
    """Rejected (403) unless the request carries Twilio's signature for exactly this URL and form."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature or not signature.isascii():
        raise Rejected(403, "signature required")
    url = public_url(request, public_base_url)
    if not RequestValidator(auth_token).validate(url, form, signature):
        raise Rejected(403, "bad signature")
