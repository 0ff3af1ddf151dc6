"""The WeChat official account channel: which bots have an account, their webhooks, and sending.

A bot is served here only when the deployment gives it WeChat settings; its webhook is then
`/webhooks/wechat/<bot id>`, and every other bot id is a 404. Sending (the outbox dispatcher) uses the
customer-service message API, in a worker thread because wechatpy's client blocks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass

from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from channels.base import ChannelContext, Delivery
from channels.registry import ChannelLoadError
from channels.wechat import messages
from channels.wechat.client import WeChatApi, delivery_for
from channels.wechat.settings import Mode, SettingsProblem, WeChatBotSettings, parse_settings
from channels.wechat.webhook import WeChatWebhook
from core.messages import Capabilities, Outbound, render_text

_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True)
class Account:
    """One bot's official account, ready to use: its secrets, cipher and API client."""

    bot_id: str
    settings: WeChatBotSettings
    crypto: WeChatCrypto | None  # None: no EncodingAESKey, plain mode only
    api: WeChatApi

    @property
    def token(self) -> str:
        return self.settings.token.get_secret_value()

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    @property
    def passive_budget(self) -> float:
        return self.settings.passive_budget_seconds

    @property
    def timestamp_tolerance(self) -> float | None:
        return self.settings.timestamp_tolerance_seconds or None


def account_for(bot_id: str, settings: WeChatBotSettings) -> Account:
    key = settings.encoding_aes_key
    crypto = (
        WeChatCrypto(settings.token.get_secret_value(), key.get_secret_value(), settings.app_id)
        if key is not None
        else None
    )
    api = WeChatApi(
        settings.app_id,
        settings.app_secret.get_secret_value(),
        api_base=settings.api_base,
        timeout=settings.api_timeout_seconds,
    )
    return Account(bot_id=bot_id, settings=settings, crypto=crypto, api=api)


class WeChatChannel:
    name = "wechat"
    # Passive replies have no buttons: choices become numbered lines, and a typed number picks one.
    capabilities = Capabilities(
        max_length=messages.TEXT_LIMIT_BYTES,
        buttons=False,
        concise=False,
        attachments=frozenset({"image", "voice", "location"}),
    )

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self._configured = False

    def configure(self, context: ChannelContext) -> None:
        """Read every bot's settings now, so a mistake stops the start with a message naming it."""
        accounts: dict[str, Account] = {}
        for bot_id in context.bot_ids:
            raw = context.settings.get(bot_id)
            if raw is None:
                continue  # this bot has no official account
            try:
                accounts[bot_id] = account_for(bot_id, parse_settings(bot_id, raw))
            except SettingsProblem as exc:
                raise ChannelLoadError(str(exc)) from None
        self.accounts = accounts
        self._configured = True

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        if not self._configured:
            self.configure(context)
        if context.handle_within is None:
            raise ChannelLoadError(
                "channel 'wechat' needs the budgeted handler (ChannelContext.handle_within): WeChat waits "
                "only five seconds for a passive reply"
            )
        return WeChatWebhook(self, context.handle_within).routes()

    def fits_inline(self, replies: list[Outbound]) -> bool:
        """A passive reply carries one text of at most 2048 bytes; longer answers go by the API, which
        splits them at line ends instead of clipping the middle."""
        parts = (render_text(reply, self.capabilities).strip() for reply in replies)
        joined = messages.xml_safe("\n\n".join(part for part in parts if part))
        return len(joined.encode("utf-8")) <= messages.TEXT_LIMIT_BYTES

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        account = self.accounts.get(bot_id)
        if account is None:
            return Delivery(ok=False, error=f"no WeChat account configured for bot {bot_id!r}")
        if not _OPENID.match(address):
            return Delivery(ok=False, error="the address is not an openid")
        text = render_text(message, self.capabilities).strip()
        if not text:
            return Delivery(ok=False, error="empty message")
        return await asyncio.to_thread(_send_pieces, account.api, address, messages.api_pieces(text))


def _send_pieces(api: WeChatApi, openid: str, pieces: list[str]) -> Delivery:
    """Runs in a worker thread. A text over WeChat's limit goes out as several messages, in order; a
    failure part-way is retried whole (the citizen may see the first part twice, never lose the rest)."""
    for index, piece in enumerate(pieces):
        try:
            api.send_text(openid, piece)
        except Exception as exc:  # every failure becomes a Delivery the outbox can act on
            failed = delivery_for(exc)
            if index:
                error = f"{failed.error} (after {index} of {len(pieces)} parts)"
                failed = dataclasses.replace(failed, error=error)
            return failed
    return Delivery(ok=True)
