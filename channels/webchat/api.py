"""The web chat's HTTP side: the page, its static files, and the JSON API the page talks to.

Everything a browser sends is validated strictly before it becomes an `Inbound`: the session id is
the citizen's identity here, so it must be a random token the server could have made, and message
ids are prefixed with it so one visitor can never replay (and read) another's answers.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from channels.base import ChannelContext
from core.messages import Capabilities, Inbound, Outbound, render_text

if TYPE_CHECKING:
    from channels.webchat.channel import WebChatChannel

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {
    "chat.js": "text/javascript",
    "chat.css": "text/css",
    "ui-text.json": "application/json",
}
LANGUAGES = frozenset({"zh_Hans", "zh_Hant", "en"})
SESSION = re.compile(r"^[0-9a-f]{32}$")  # 128 random bits, as secrets.token_hex(16) writes them
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHOICE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_AFTER_ID = 2**63 - 1

# The page loads nothing from anywhere else and runs no inline script: a reply that somehow carried
# markup could not execute even if the page ever put it into the DOM as HTML.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class BadRequest(Exception):
    def __init__(self, code: str, status: int = 400, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra


@dataclass(frozen=True)
class Speaker:
    """Who a request speaks as: the page's own session, or a configured persona."""

    channel: str
    address: str
    session: str
    capabilities: Capabilities
    persona: str | None


def error(code: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": code, **extra}, status=status, headers={"Cache-Control": "no-store"})


class WebChatHandlers:
    def __init__(self, channel: WebChatChannel, context: ChannelContext) -> None:
        self.channel = channel
        self.context = context
        self.bot_ids = frozenset(context.bot_ids)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/chat/_static/{name}", self.static_file),
            web.get("/chat/{bot_id}", self.page),
            web.get("/chat/{bot_id}/api/config", self.config),
            web.post("/chat/{bot_id}/api/messages", self.post_message),
            web.get("/chat/{bot_id}/api/messages", self.get_messages),
        ]

    # ---- the page ----

    async def page(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["bot_id"] not in self.bot_ids:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / "index.html", headers={**PAGE_HEADERS, "Content-Type": "text/html"})

    async def static_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={**PAGE_HEADERS, "Content-Type": content_type})

    async def config(self, request: web.Request) -> web.Response:
        self._bot(request)
        return web.json_response(
            {
                "personas": sorted(self.channel.personas),
                "languages": sorted(LANGUAGES),
                "max_text": self.channel.max_text,
                "poll_ms": int(self.channel.poll_seconds * 1000),
            }
        )

    # ---- the API ----

    async def post_message(self, request: web.Request) -> web.Response:
        try:
            bot_id = self._bot(request)
            body = await self._json_object(request)
            speaker = self._speaker(body.get("session"), body.get("persona"), create=True)
            inbound = self._inbound(bot_id, speaker, body)
        except BadRequest as exc:
            return error(exc.code, exc.status, **exc.extra)
        replies = await self.context.handle(inbound)
        return web.json_response(
            {
                "session": speaker.session,
                "replies": [self._message(reply, speaker.capabilities) for reply in replies],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def get_messages(self, request: web.Request) -> web.Response:
        try:
            bot_id = self._bot(request)
            query = request.query
            speaker = self._speaker(query.get("session"), query.get("persona"), create=False)
            after = _after_id(query.get("after", "0"))
        except BadRequest as exc:
            return error(exc.code, exc.status, **exc.extra)
        fetched = await self.context.mailbox.fetch(bot_id, speaker.channel, speaker.address, after)
        messages = [
            {"id": row_id, **self._message(message, speaker.capabilities)} for row_id, message in fetched
        ]
        return web.json_response({"messages": messages}, headers={"Cache-Control": "no-store"})

    # ---- validation ----

    def _bot(self, request: web.Request) -> str:
        bot_id = request.match_info["bot_id"]
        if bot_id not in self.bot_ids:
            raise BadRequest("unknown_bot", 404)
        return bot_id

    async def _json_object(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest("body_too_large", 413) from None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("malformed_json") from None
        if not isinstance(body, dict):
            raise BadRequest("expected_json_object")
        return body

    def _speaker(self, session: Any, persona: Any, *, create: bool) -> Speaker:
        if session is None and create:
            session = secrets.token_hex(16)
        if not isinstance(session, str) or not SESSION.match(session):
            raise BadRequest("bad_session")
        if persona is None or persona == "":
            return Speaker(self.channel.name, session, session, self.channel.capabilities, None)
        chosen = self.channel.personas.get(persona) if isinstance(persona, str) else None
        if chosen is None:
            raise BadRequest("unknown_persona")
        return Speaker(chosen.channel, chosen.address, session, chosen.capabilities, persona)

    def _inbound(self, bot_id: str, speaker: Speaker, body: dict[str, Any]) -> Inbound:
        text = body.get("text", "")
        choice = body.get("choice")
        language = body.get("language")
        client_message_id = body.get("client_message_id")
        if not isinstance(text, str):
            raise BadRequest("bad_text")
        if len(text) > self.channel.max_text:
            raise BadRequest("text_too_long", limit=self.channel.max_text)
        if choice is not None and (not isinstance(choice, str) or not CHOICE_KEY.match(choice)):
            raise BadRequest("bad_choice")
        if language is not None and (not isinstance(language, str) or language not in LANGUAGES):
            raise BadRequest("bad_language")
        if not isinstance(client_message_id, str) or not CLIENT_MESSAGE_ID.match(client_message_id):
            raise BadRequest("bad_client_message_id")
        if not text.strip() and choice is None:
            raise BadRequest("empty_message")
        # The prefix keeps message ids unique per visitor: the inbox treats a repeated id as a retry
        # and answers it with the first answer, which must never be someone else's.
        prefix = f"{speaker.persona}:{speaker.session}" if speaker.persona else speaker.session
        return Inbound(
            channel=speaker.channel,
            bot_id=bot_id,
            sender=speaker.address,
            message_id=f"{prefix}:{client_message_id}",
            text=storable(text),
            language=language,
            choice=choice,
        )

    @staticmethod
    def _message(message: Outbound, capabilities: Capabilities) -> dict[str, Any]:
        choices = [{"key": c.key, "label": c.label} for c in message.choices] if capabilities.buttons else []
        return {"text": render_text(message, capabilities), "choices": choices}


def storable(text: str) -> str:
    """Text any database can store. JSON escapes carry lone surrogates (not UTF-8, so SQLite's driver
    cannot encode them) and NULs (which PostgreSQL text refuses); both become U+FFFD."""
    if not text.isascii():
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", "\ufffd")


def _after_id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_AFTER_ID:
        raise BadRequest("bad_after")
    return int(value)
