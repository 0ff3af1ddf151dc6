"""Calling the Bot API: one aiogram `Bot` per bot, its flood limits, and what its errors mean for a retry.

A Telegram failure is either worth another try (429 with its retry_after, 5xx, a network error, a bad
token an operator will fix) or final for that message (the citizen blocked the bot, the chat is gone,
Telegram refused the request). Error texts are built here rather than taken from the exception,
whose message can quote the chat id; nothing that names a citizen ends up in the outbox row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, TelegramMethod

from channels.base import Delivery
from channels.telegram.keyboards import send_messages
from channels.telegram.limits import RateLimiter
from channels.telegram.settings import TelegramBotSettings
from core.messages import Outbound

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_ERROR = 200
_REMEMBERED_PARTS = 1024
_PROGRESS_SECONDS = 3600.0


class NotConfigured(LookupError):
    """A bot this channel has no settings for."""


class TelegramClients:
    def __init__(self, settings: Mapping[str, TelegramBotSettings]) -> None:
        self.settings = dict(settings)
        self._bots: dict[str, Bot] = {}
        self._limiters: dict[str, RateLimiter] = {}
        # Parts of a long message already delivered when a later part failed with "retry": the retry
        # of that outbox row continues after them instead of showing the citizen the start twice.
        self._progress: OrderedDict[tuple[str, str, Outbound], tuple[int, float]] = OrderedDict()

    # ---------------------------------------------------------------- plumbing

    def bot(self, bot_id: str) -> Bot:
        existing = self._bots.get(bot_id)
        if existing is not None:
            return existing
        settings = self.settings.get(bot_id)
        if settings is None:
            raise NotConfigured(bot_id)
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(settings.api_base), timeout=settings.api_timeout_seconds
        )
        bot = self._bots[bot_id] = Bot(settings.token.get_secret_value(), session=session)
        return bot

    def limiter(self, bot_id: str) -> RateLimiter:
        limiter = self._limiters.get(bot_id)
        if limiter is None:
            limiter = self._limiters[bot_id] = RateLimiter()
        return limiter

    def use_limiter(self, bot_id: str, limiter: RateLimiter) -> None:
        """Replace a bot's limiter (tests give one on a fake clock)."""
        self._limiters[bot_id] = limiter

    async def call(self, bot_id: str, method: TelegramMethod[T], *, timeout: int | None = None) -> T:
        return await self.bot(bot_id)(method, request_timeout=timeout)

    async def close(self) -> None:
        """Close every HTTP session (the Bot API's own `close` method is something else entirely)."""
        bots, self._bots = self._bots, {}
        for bot in bots.values():
            await bot.session.close()

    # ---------------------------------------------------------------- sending

    async def deliver(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        """Send one outbox row: every part in order, through the limiter; the Delivery says how it went."""
        if bot_id not in self.settings:
            # A deployment that lost the bot's settings; the rows wait (with backoff) for them to return.
            return Delivery(ok=False, error="telegram is not configured for this bot", retry=True)
        chat_id = chat_id_of(address)
        if chat_id is None:
            return Delivery(ok=False, error="not a telegram chat id", retry=False)
        calls = send_messages(chat_id, message)
        key = (bot_id, address, message)
        limiter = self.limiter(bot_id)
        last: int | None = None
        for index in range(self._parts_done(key), len(calls)):
            await limiter.wait(address)
            try:
                sent = await self.call(bot_id, calls[index])
            except (TelegramAPIError, AiogramError) as exc:
                failure = self._failure(exc, bot_id)
                if isinstance(exc, TelegramRetryAfter):
                    limiter.hold(address, exc.retry_after)
                if not failure.retry:
                    self._progress.pop(key, None)
                return failure
            last = sent.message_id
            if index + 1 < len(calls):  # kept even if the dispatcher's timeout cancels us mid-message
                self._remember(key, index + 1)
        self._progress.pop(key, None)
        return Delivery(ok=True, provider_message_id=str(last) if last is not None else None)

    async def push(self, bot_id: str, address: str, method: TelegramMethod[Any], *, deadline: float) -> bool:
        """Send one call while a webhook request waits, retrying transient failures until `deadline`
        (event loop time); False when it could not be delivered."""
        loop = asyncio.get_running_loop()
        limiter = self.limiter(bot_id)
        attempt = 0
        while True:
            await limiter.wait(address)
            try:
                await self.call(bot_id, method)
                return True
            except (TelegramAPIError, AiogramError) as exc:
                failure = self._failure(exc, bot_id)
                delay = failure.retry_after if failure.retry_after is not None else min(0.5 * 2**attempt, 4.0)
                if not failure.retry or loop.time() + delay > deadline:
                    log.error(
                        "telegram %s: %s not delivered in the webhook: %s",
                        bot_id,
                        method.__api_method__,
                        failure.error,
                    )
                    return False
                limiter.hold(address, delay)  # the next wait() sleeps it out
                attempt += 1

    async def answer_callback(self, bot_id: str, callback_query_id: str) -> None:
        """Stop the button's spinner; best effort, as a missed answer only times out on the phone."""
        try:
            await self.call(bot_id, AnswerCallbackQuery(callback_query_id=callback_query_id))
        except (TelegramAPIError, AiogramError) as exc:
            log.info("telegram %s: callback query not answered: %s", bot_id, self._failure(exc, bot_id).error)

    def _parts_done(self, key: tuple[str, str, Outbound]) -> int:
        """Parts of this very message already delivered by an earlier attempt of its row.

        Kept for an hour, longer than the outbox retries a row; an identical message sent days later
        is a new message and starts from its first part.
        """
        remembered = self._progress.get(key)
        if remembered is None:
            return 0
        parts, until = remembered
        if time.monotonic() > until:
            del self._progress[key]
            return 0
        return parts

    def _remember(self, key: tuple[str, str, Outbound], parts_done: int) -> None:
        self._progress[key] = (parts_done, time.monotonic() + _PROGRESS_SECONDS)
        self._progress.move_to_end(key)
        while len(self._progress) > _REMEMBERED_PARTS:
            self._progress.popitem(last=False)

    def _failure(self, exc: Exception, bot_id: str) -> Delivery:
        failure = delivery_for(exc)
        token = self.settings[bot_id].token.get_secret_value() if bot_id in self.settings else None
        if token and failure.error and token in failure.error:
            failure = Delivery(
                ok=False,
                error=failure.error.replace(token, "***"),
                retry=failure.retry,
                retry_after=failure.retry_after,
            )
        return failure


def delivery_for(exc: Exception) -> Delivery:
    """What a Bot API failure means for the outbox row."""
    if isinstance(exc, TelegramRetryAfter):
        return Delivery(
            ok=False,
            error=f"rate limited by telegram: retry after {exc.retry_after}s",
            retry=True,
            retry_after=float(exc.retry_after),
        )
    if isinstance(exc, TelegramMigrateToChat):
        return Delivery(ok=False, error="telegram: the chat moved to a supergroup", retry=False)
    if isinstance(exc, TelegramEntityTooLarge):
        return Delivery(ok=False, error="telegram: request too large", retry=False)
    if isinstance(exc, TelegramNetworkError):
        return Delivery(ok=False, error="network error reaching telegram", retry=True)
    if isinstance(exc, TelegramServerError):
        return Delivery(ok=False, error=_described("telegram server error", exc), retry=True)
    if isinstance(exc, TelegramForbiddenError):  # blocked by the user, user deactivated, kicked
        return Delivery(ok=False, error=_described("telegram 403", exc), retry=False)
    if isinstance(exc, TelegramBadRequest):  # chat not found, text refused
        return Delivery(ok=False, error=_described("telegram 400", exc), retry=False)
    if isinstance(exc, TelegramAPIError):
        # 401/404 (a revoked or mistyped token), 409...: the deployment is wrong, not the message;
        # it waits, with backoff, for an operator to fix it.
        return Delivery(ok=False, error=_described(f"telegram {type(exc).__name__}", exc), retry=True)
    unreadable = f"telegram answered something unreadable ({type(exc).__name__})"
    return Delivery(ok=False, error=unreadable, retry=True)


def chat_id_of(address: str) -> int | None:
    """A chat id as we stored it (our own str of Telegram's integer), or None."""
    body = address[1:] if address.startswith("-") else address
    if not body.isascii() or not body.isdigit() or len(body) > 20:
        return None
    return int(address)


def _described(prefix: str, exc: TelegramAPIError) -> str:
    return f"{prefix}: {exc.message}"[:_MAX_ERROR]
