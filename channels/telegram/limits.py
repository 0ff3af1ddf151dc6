"""Keeping under Telegram's flood limits in this process: about 30 messages a second per bot, and one a
second into any one chat.

Each send reserves a moment: the first free global slot (slots are 1/30 s apart) that is at least a
second after the previous one reserved for the same chat, then sleeps until it. Reserving is plain
synchronous code, so concurrent senders never race, and a test can read the schedule off a fake clock
without sleeping. Slots are reserved in the future rather than taken as a running rate, so a chat that
must wait does not hold up the others. Several processes each keep their own schedule; Telegram's 429
with retry_after covers what they add up to.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


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
        self._clock = clock
        self._sleep = sleep
        self._taken: set[int] = set()  # global slots reserved from now on
        self._taken_heap: list[int] = []  # the same, to forget the past ones cheaply
        self._chat_next: dict[str, float] = {}  # earliest moment for each chat's next message

    def reserve(self, chat: str) -> float:
        """Reserve the moment the next message into `chat` may go; returns that moment (clock time)."""
        now = self._clock()
        self._forget(now)
        earliest = max(now, self._chat_next.get(chat, now))
        slot = math.ceil(earliest * self.per_second - 1e-9)
        while slot in self._taken:
            slot += 1
        self._taken.add(slot)
        heapq.heappush(self._taken_heap, slot)
        moment = max(earliest, slot / self.per_second)
        self._chat_next[chat] = moment + self.chat_interval
        return moment

    async def wait(self, chat: str) -> None:
        """Sleep until a message into `chat` may go."""
        delay = self.reserve(chat) - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def hold(self, chat: str, seconds: float) -> None:
        """Telegram said to wait (429 retry_after): nothing more into `chat` until then."""
        until = self._clock() + max(seconds, 0.0)
        self._chat_next[chat] = max(self._chat_next.get(chat, until), until)

    def _forget(self, now: float) -> None:
        current = math.floor(now * self.per_second)
        while self._taken_heap and self._taken_heap[0] < current:
            self._taken.discard(heapq.heappop(self._taken_heap))
        if len(self._chat_next) > 4096:
            self._chat_next = {chat: t for chat, t in self._chat_next.items() if t > now}
