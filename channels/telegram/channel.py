"""The Telegram channel: settings per bot, the webhook route, the outbox's `send`, long polling and
webhook registration.

Constructed without arguments by the registry; `configure` gives it the bots' settings. A bot without
Telegram settings is not served (its webhook answers 404).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from aiogram.methods import DeleteWebhook, SetWebhook
from aiogram.types import Update
from aiohttp import web

from channels.base import ChannelContext, Delivery
from channels.telegram.client import TelegramClients
from channels.telegram.polling import ALLOWED_UPDATES, OffsetStore, Poller
from channels.telegram.replies import ReplyHandler, answer_polled, calls_for
from channels.telegram.settings import TelegramBotSettings, parse_settings, webhook_url
from channels.telegram.updates import BadUpdate, read_update
from channels.telegram.webhook import TelegramWebhook
from core.messages import Capabilities, Outbound

log = logging.getLogger(__name__)


class TelegramChannel:
    name = "telegram"
    capabilities = Capabilities(max_length=4096, buttons=True, concise=False)

    def __init__(self) -> None:
        self.context: ChannelContext | None = None
        self.clients = TelegramClients({})

    @property
    def settings(self) -> Mapping[str, TelegramBotSettings]:
        return self.clients.settings

    def configure(self, context: ChannelContext) -> None:
        """Validate every served bot's settings (a SettingsProblem names what to fix) and keep the context."""
        served = set(context.bot_ids)
        self.clients.settings = {
            bot_id: parse_settings(bot_id, raw)
            for bot_id, raw in context.settings.items()
            if bot_id in served
        }
        self.context = context

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        if self.context is None:
            self.configure(context)
        return TelegramWebhook(self, context).routes()

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        return await self.clients.deliver(bot_id, address, message)

    async def close(self) -> None:
        await self.clients.close()

    @staticmethod
    def fits_inline(replies: list[Outbound]) -> bool:
        """Whether the replies fit the webhook response (one sendMessage); when they do not, the pipeline
        can leave them all to the outbox instead of handing them to the webhook (see `replies`)."""
        return len(calls_for(0, replies)) <= 1

    # ---------------------------------------------------------------- development and operations

    async def take_update(self, bot_id: str, update: Update, handle: ReplyHandler) -> None:
        """One polled update, through the same reading as a webhook's; replies go out through the API."""
        try:
            incoming = read_update(bot_id, update)
        except BadUpdate:
            log.warning("telegram %s: update %s ignored: impossible content", bot_id, update.update_id)
            return
        if incoming is not None:
            await answer_polled(self.clients, bot_id, incoming, handle)

    def poller(self, bot_id: str, handle: ReplyHandler, offset_file: Path) -> Poller:
        if bot_id not in self.settings:
            raise LookupError(f"no telegram settings for bot {bot_id!r}")

        async def on_update(update: Update) -> None:
            await self.take_update(bot_id, update, handle)

        return Poller(self.clients, bot_id, on_update, OffsetStore(offset_file))

    async def set_webhook(
        self, bot_id: str, *, base_url: str = "", drop_pending_updates: bool = False
    ) -> str:
        """Point Telegram at this deployment's webhook with the bot's secret; returns the URL.

        The address is the bot's own public_base_url, else `base_url`, else the context's.
        """
        settings = self._settings(bot_id)
        base = base_url or (self.context.public_base_url if self.context is not None else "")
        url = webhook_url(bot_id, settings, base)
        method = SetWebhook(
            url=url,
            secret_token=settings.secret_token.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=drop_pending_updates,
        )
        await self.clients.call(bot_id, method)
        return url

    async def delete_webhook(self, bot_id: str) -> None:
        """Stop webhook delivery so getUpdates may be used; pending updates stay for the poller."""
        self._settings(bot_id)
        await self.clients.call(bot_id, DeleteWebhook(drop_pending_updates=False))

    def _settings(self, bot_id: str) -> TelegramBotSettings:
        settings = self.settings.get(bot_id)
        if settings is None:
            raise LookupError(f"no telegram settings for bot {bot_id!r}")
        return settings
