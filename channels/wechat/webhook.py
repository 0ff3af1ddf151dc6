"""The webhook WeChat calls: server verification (GET) and messages (POST) for one bot's account.

Order of checks, so an unauthenticated request touches nothing: the bot (404), the `signature` over the
query (403), the body's size (413), its XML (400), in encrypted mode the `msg_signature` and the
envelope (403 / 400), the message itself (400). Only then does the pipeline see an Inbound.

The answer: WeChat waits five seconds. If the step finishes within the bot's budget its replies go back
as one passive text reply (encrypted when the message was); otherwise, or for a retry whose answer
already went through the API, "success" — the outbox dispatcher then sends through the
customer-service API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from channels.base import BudgetedHandler
from channels.wechat import envelope, messages
from channels.wechat.envelope import Rejected
from channels.wechat.signed_queries import SignedQueries

if TYPE_CHECKING:
    from channels.wechat.channel import Account, WeChatChannel

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
SUCCESS = "success"  # tells WeChat the message arrived and there is no passive reply


class WeChatWebhook:
    def __init__(self, channel: WeChatChannel, handle_within: BudgetedHandler) -> None:
        self.channel = channel
        self.handle_within = handle_within
        self.signed_queries = SignedQueries()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/webhooks/wechat/{bot_id}", self.verify, allow_head=False),
            web.post("/webhooks/wechat/{bot_id}", self.receive),
        ]

    async def verify(self, request: web.Request) -> web.Response:
        """The console's "submit" of the server URL: echo `echostr` if the signature is ours."""
        try:
            account = self._account(request)
            envelope.authenticate(account.token, request.query, tolerance=None)
            echo = request.query.get("echostr", "")
            if not echo or len(echo) > 256:
                raise Rejected(400, "echostr missing or too long")
        except Rejected as exc:
            return _refusal(request, exc)
        return web.Response(text=echo, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        try:
            account = self._account(request)
            query = request.query
            envelope.authenticate(account.token, query, tolerance=account.timestamp_tolerance)
            crypto = _crypto_for(query, account)
            body = await _body(request)
            if crypto is None:
                _same_body_as_before(self.signed_queries, query, body, account)
            xml = envelope.open_envelope(crypto, body, query) if crypto is not None else body
            received = messages.read(xml, account.bot_id)
        except Rejected as exc:
            return _refusal(request, exc)
        except messages.BadMessage as exc:
            return _refusal(request, Rejected(400, str(exc)))

        if received.inbound is None:
            return _success()
        replies = await self.handle_within(received.inbound, account.passive_budget)
        if not replies:
            return _success()
        content = messages.passive_text(replies, self.channel.capabilities)
        if not content:
            return _success()
        reply = messages.reply_xml(
            content, account=received.account, sender=received.sender, now=int(time.time())
        )
        if crypto is not None:
            reply = envelope.seal(crypto, reply, query)
        return web.Response(text=reply, content_type="application/xml")

    def _account(self, request: web.Request) -> Account:
        account = self.channel.accounts.get(request.match_info["bot_id"])
        if account is None:
            raise Rejected(404, "no WeChat account for this bot")
        return account


def _crypto_for(query: Mapping[str, str], account: Account) -> WeChatCrypto | None:
    """The cipher of an encrypted callback, None for a plain one."""
    kind = query.get("encrypt_type", "raw").lower()
    if kind not in ("raw", "aes"):
        raise Rejected(400, "unknown encrypt_type")
    if kind == "aes":
        if account.crypto is None:
            raise Rejected(400, "encrypted message, but no encoding_aes_key is configured")
        return account.crypto
    if account.mode == "safe":
        # In safe mode WeChat encrypts everything; a plain body here was not written by WeChat.
        raise Rejected(403, "plain message to an account in safe mode")
    return None


def _same_body_as_before(seen: SignedQueries, query: Mapping[str, str], body: str, account: Account) -> None:
    """A plain callback's signature does not cover its body: refuse one reused with another body."""
    signature, timestamp, nonce = (query.get(name, "") for name in ("signature", "timestamp", "nonce"))
    if not seen.matches(signature, timestamp, nonce, body, keep=account.timestamp_tolerance):
        raise Rejected(403, "signature already used with another body")


async def _body(request: web.Request) -> str:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Rejected(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejected(413, "body too large")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None


def _success() -> web.Response:
    return web.Response(text=SUCCESS, content_type="text/plain")


def _refusal(request: web.Request, exc: Rejected) -> web.Response:
    # The reason only: bodies and query values may carry a citizen's words or an attacker's payload.
    log.info("wechat %s %s refused (%s): %s", request.method, request.path, exc.status, exc.reason)
    text = _REASONS.get(exc.status, "refused")
    return web.Response(status=exc.status, text=text, content_type="text/plain")


_REASONS = {400: "bad request", 403: "forbidden", 404: "not found", 413: "body too large"}
