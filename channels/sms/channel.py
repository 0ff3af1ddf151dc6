"""The SMS channel over Twilio: per-bot settings, the webhook routes, and the outbox's `send`.

Opt-outs live in the database (`core.optout`), so the channel needs a unit of work from the service:
`ChannelContext.unit_of_work`, a callable that opens one transaction and yields a `core` Backend.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
from aiohttp import web
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from channels.base import ChannelContext, Delivery, UnitOfWork
from channels.sms.client import TwilioSender, delivery_for, is_unsubscribed
from channels.sms.inbound import CHANNEL
from channels.sms.limiter import PerAddressLimiter
from channels.sms.replies import bodies
from channels.sms.settings import SmsSettings, SmsSettingsError, parse_settings
from channels.sms.webhook import SmsWebhooks
from core import optout
from core.backend import Backend
from core.messages import Capabilities, Outbound

log = logging.getLogger(__name__)

# Below the dispatcher's own limit (half the outbox lease), so a slow Twilio is a clean, retried failure.
SEND_TIMEOUT_SECONDS = 10.0


class SmsChannel:
    name = CHANNEL
    capabilities = Capabilities(max_length=1600, buttons=False, concise=True)

    def __init__(self) -> None:
        self._context: ChannelContext | None = None
        self._bots: dict[str, SmsSettings] = {}
        self._limiters: dict[str, PerAddressLimiter] = {}
        self._senders: dict[str, tuple[asyncio.AbstractEventLoop, TwilioSender]] = {}
        self._unit_of_work: UnitOfWork | None = None

    # ---- set-up ----

    def configure(self, context: ChannelContext) -> None:
        """Validate every served bot's settings now, so a mistake stops the start, not a message."""
        bots = {
            bot_id: parse_settings(bot_id, context.settings[bot_id])
            for bot_id in context.bot_ids
            if context.settings.get(bot_id) is not None
        }
        unit_of_work = context.unit_of_work
        if bots and unit_of_work is None:
            raise SmsSettingsError(
                "the SMS channel keeps opt-outs in the database: its ChannelContext needs a unit_of_work"
            )
        for bot_id in bots:
            if not (bots[bot_id].public_base_url or context.public_base_url):
                log.warning(
                    "sms bot %s: no public_base_url; Twilio signatures are checked against the Host header "
                    "and no delivery reports are asked for",
                    bot_id,
                )
        self._context = context
        self._bots = bots
        self._limiters = {bot_id: PerAddressLimiter(s.max_per_second) for bot_id, s in bots.items()}
        self._unit_of_work = unit_of_work

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        if self._context is not context:
            self.configure(context)
        return SmsWebhooks(self, context).routes()

    def settings_for(self, bot_id: str) -> SmsSettings | None:
        return self._bots.get(bot_id)

    def public_base(self, bot_id: str) -> str | None:
        settings = self._bots.get(bot_id)
        base = (settings.public_base_url if settings else None) or (
            self._context.public_base_url if self._context else ""
        )
        return base.rstrip("/") or None

    def status_url(self, bot_id: str) -> str | None:
        base = self.public_base(bot_id)
        return f"{base}/webhooks/sms/{bot_id}/status" if base else None

    def unit_of_work(self) -> AbstractAsyncContextManager[Backend]:
        if self._unit_of_work is None:
            raise RuntimeError("the SMS channel is not configured")
        return self._unit_of_work()

    # ---- sending ----

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        settings = self._bots.get(bot_id)
        if settings is None:
            return Delivery(ok=False, error="SMS is not configured for this bot", retry=False)
        texts = bodies([message], self.capabilities)
        if not texts:
            return Delivery(ok=False, error="empty message", retry=False)
        fields: dict[str, Any] = {"to": address}
        if settings.from_number:
            fields["from_"] = settings.from_number
        if settings.messaging_service_sid:
            fields["messaging_service_sid"] = settings.messaging_service_sid
        if (callback := self.status_url(bot_id)) is not None:
            fields["status_callback"] = callback
        sender = self._sender(bot_id, settings)
        sid: str | None = None
        # A text longer than one SMS body goes as consecutive messages; if a later one fails, the retry
        # sends the earlier ones again (rare: only staff answers get that long).
        for number, body in enumerate(texts, start=1):
            await self._limiters[bot_id].wait(address)
            try:
                sid = await sender.create(body=body, **fields)
            except (TwilioRestException, TwilioServiceException) as exc:
                delivery = delivery_for(exc)
                if is_unsubscribed(exc):
                    await self._provider_opt_out(bot_id, address)
                return _part_of(delivery, number, len(texts))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failed = Delivery(ok=False, error=f"network: {type(exc).__name__}", retry=True)
                return _part_of(failed, number, len(texts))
        return Delivery(ok=True, provider_message_id=sid)

    async def _provider_opt_out(self, bot_id: str, address: str) -> None:
        """Twilio refused because the number replied STOP to it: remember, so nothing more is tried."""
        try:
            async with self.unit_of_work() as b:
                await optout.opt_out(b, bot_id, CHANNEL, address, source="provider")
        except Exception as exc:  # the delivery result matters more; the next refusal records it again
            log.warning("sms: could not record an opt-out reported by Twilio (%s)", type(exc).__name__)

    def _sender(self, bot_id: str, settings: SmsSettings) -> TwilioSender:
        loop = asyncio.get_running_loop()
        cached = self._senders.get(bot_id)
        if cached is not None and cached[0] is loop:
            return cached[1]
        sender = TwilioSender(settings, timeout=SEND_TIMEOUT_SECONDS)
        self._senders[bot_id] = (loop, sender)
        return sender

    async def close(self) -> None:
        """Close the connection pools made in this event loop (the worker calls this on shutdown)."""
        loop = asyncio.get_running_loop()
        senders, self._senders = self._senders, {}
        for owner, sender in senders.values():
            if owner is loop:
                await sender.close()


def _part_of(delivery: Delivery, number: int, total: int) -> Delivery:
    if total == 1 or delivery.error is None:
        return delivery
    return Delivery(
        ok=delivery.ok,
        error=f"{delivery.error} (part {number} of {total})",
        retry=delivery.retry,
        retry_after=delivery.retry_after,
    )
