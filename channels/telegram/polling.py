"""Long polling for development: `getUpdates` in a loop, each update handled like a webhook's.

The offset (the next update id wanted) is saved to a file after each update is handled, and passing
it to `getUpdates` is what tells Telegram the earlier ones are done; a restart continues from it.
An update that fails to be handled (the database is down) is not passed: it is fetched again after a
pause, and if it had in fact been handled, the pipeline recognises the replay and changes nothing.

An offset is only used for a day. Telegram keeps updates for 24 hours, so an older one confirms
nothing; and after a week without updates Telegram numbers them from a random start, possibly below
an old offset, which would then confirm (lose) new updates unseen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramConflictError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from channels.telegram.client import TelegramClients

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query")
OFFSET_MAX_AGE = 24 * 3600.0  # seconds; how long Telegram keeps an update
UpdateHandler = Callable[[Update], Awaitable[None]]


class PollingStopped(RuntimeError):
    """Polling cannot go on: another poller or a webhook holds the bot, or the token is refused."""


class OffsetStore:
    """The next update id to ask for, in a small file replaced atomically (a crash never leaves half)."""

    def __init__(self, path: Path, *, now: Callable[[], float] = time.time) -> None:
        self.path = path
        self.now = now

    def load(self) -> int | None:
        try:
            if self.now() - self.path.stat().st_mtime > OFFSET_MAX_AGE:
                log.info("telegram offset file %s is over a day old; starting from Telegram's", self.path)
                return None
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("telegram offset file %s unreadable (%s); starting from Telegram's", self.path, exc)
            return None
        if not text.isdigit():
            log.warning("telegram offset file %s is damaged; starting from Telegram's", self.path)
            return None
        return int(text)

    def save(self, offset: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="ascii") as handle:
            handle.write(f"{offset}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


class Poller:
    def __init__(
        self,
        clients: TelegramClients,
        bot_id: str,
        on_update: UpdateHandler,
        offsets: OffsetStore,
        *,
        long_poll_seconds: int = 25,
        max_pause: float = 30.0,
    ) -> None:
        self.clients = clients
        self.bot_id = bot_id
        self.on_update = on_update
        self.offsets = offsets
        self.long_poll_seconds = long_poll_seconds
        self.max_pause = max_pause
        self.offset = offsets.load()
        self._offset_set_at = offsets.now()
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; an update being handled is finished first, never cut off."""
        while not stop.is_set():
            fetch = asyncio.ensure_future(self.fetch())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
                break
            pause = await self._after_fetch(fetch)
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    async def poll_once(self) -> int:
        """One getUpdates and the handling of what it brought; the number of updates handled."""
        return await self.handle(await self.fetch())

    async def fetch(self, timeout: int | None = None) -> list[Update]:
        wait = self.long_poll_seconds if timeout is None else timeout
        if self.offset is not None and self.offsets.now() - self._offset_set_at > OFFSET_MAX_AGE:
            self.offset = None  # a day without updates: see the module's note
        method = GetUpdates(offset=self.offset, timeout=wait, allowed_updates=list(ALLOWED_UPDATES))
        return await self.clients.call(self.bot_id, method, timeout=wait + 10)

    async def handle(self, updates: list[Update]) -> int:
        handled = 0
        for update in sorted(updates, key=lambda u: u.update_id):
            if self.offset is not None and update.update_id < self.offset:
                continue  # confirmed already; Telegram resent it before seeing our offset
            await self.on_update(update)
            self.offset = update.update_id + 1
            self._offset_set_at = self.offsets.now()
            self.offsets.save(self.offset)
            handled += 1
        return handled

    async def _after_fetch(self, fetch: asyncio.Future[list[Update]]) -> float:
        """Handle a finished fetch; the pause before the next one (0 when all is well)."""
        try:
            updates = fetch.result()
        except TelegramRetryAfter as exc:
            return float(exc.retry_after)
        except TelegramConflictError:
            raise PollingStopped(
                f"telegram bot {self.bot_id!r}: getUpdates refused (409): a webhook is set (pass "
                "--delete-webhook) or another poller runs for this bot"
            ) from None
        except (TelegramUnauthorizedError, TelegramNotFound):
            raise PollingStopped(f"telegram bot {self.bot_id!r}: the token was refused") from None
        except (TelegramAPIError, AiogramError) as exc:
            return self._failed(f"getUpdates failed ({type(exc).__name__})")
        try:
            await self.handle(updates)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the update stays unconfirmed and comes again
            return self._failed(f"handling an update failed ({type(exc).__name__})")
        self._failures = 0
        return 0.0

    def _failed(self, what: str) -> float:
        self._failures += 1
        pause = min(self.max_pause, 2.0 ** (self._failures - 1))
        log.warning("telegram %s: %s; trying again in %.0fs", self.bot_id, what, pause)
        return pause
