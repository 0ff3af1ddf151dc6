"""Keeping under Telegram's flood limits in this process: about 30 messages a second per bot, and one a
second into any one chat.

Each send reserves a moment: the earliest at least a second after the previous one reserved for the
same chat and at least 1/30 s from every moment reserved for any chat, then sleeps until it. So sends
are never closer than 1/30 s (no second holds more than thirty), and a send with room goes at once:
slots on a fixed 1/30 s grid made every answer wait for the next grid line, 17 ms on average, even on
an idle bot. Moments are whole microseconds, so "thirty a second" is exact, not a float's rounding.
Reserving is plain synchronous code, so concurrent senders never race, and a test can read the
schedule off a fake clock without sleeping. Moments are reserved in the future rather than taken as a
running rate, so a chat that must wait does not hold up the others. Several processes each keep their
own schedule; Telegram's 429 with retry_after covers what they add up to.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]
_TICKS = 1_000_000  # moments are kept in whole microseconds


class RateLimiter:
    def __init__(
        self,
        *,
        per_second: float = 30.0,
        chat_interval: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_second <= 0 or chat_interval < 0:
            raise ValueError("per_second must be positive and chat_interval not negative")
        self.per_second = per_second
        self.chat_interval = chat_interval
        self._gap = math.ceil(_TICKS / per_second)  # rounded up: never more than per_second a second
        self._clock = clock
        self._sleep = sleep
        self._moments: list[int] = []  # reserved moments in ticks, sorted, each _gap from its neighbours
        self._chat_next: dict[str, int] = {}  # earliest tick for each chat's next message

    def reserve(self, chat: str) -> float:
        """Reserve the moment the next message into `chat` may go; returns that moment (clock time)."""
        now = math.ceil(self._clock() * _TICKS)
        self._forget(now)
        moment = max(now, self._chat_next.get(chat, now))
        moments, gap = self._moments, self._gap
        i = bisect.bisect_right(moments, moment - gap)  # the first that could be too close
        while i < len(moments) and moments[i] < moment + gap:
            moment = max(moment, moments[i] + gap)
            i += 1
        moments.insert(i, moment)
        self._chat_next[chat] = moment + round(self.chat_interval * _TICKS)
        return moment / _TICKS

    async def wait(self, chat: str) -> None:
        """Sleep until a message into `chat` may go."""
        delay = self.reserve(chat) - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def hold(self, chat: str, seconds: float) -> None:
        """Telegram said to wait (429 retry_after): nothing more into `chat` until then."""
        until = math.ceil((self._clock() + max(seconds, 0.0)) * _TICKS)
        self._chat_next[chat] = max(self._chat_next.get(chat, until), until)

    def _forget(self, now: int) -> None:
        """Moments a gap or more in the past cannot be too close to any new one."""
        past = bisect.bisect_right(self._moments, now - self._gap)
        if past:
            del self._moments[:past]
        if len(self._chat_next) > 4096:
            self._chat_next = {chat: t for chat, t in self._chat_next.items() if t > now}
