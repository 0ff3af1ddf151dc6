"""Spacing between messages to one phone number, so a burst (a notice, a staff reply, a survey) does not
trip carrier filtering or arrive as a flood on a villager's phone.

In process only: each worker spaces its own sends. The outbox already sends one address's rows in order
from one worker at a time, so this is enough until several workers send to the same number at once.
"""

from __future__ import annotations

import asyncio

# Past reservations are forgotten once this many numbers are remembered, so memory stays bounded.
_PRUNE_AT = 10_000


class PerAddressLimiter:
    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._next: dict[str, float] = {}  # address → the earliest time its next message may go

    async def wait(self, address: str) -> None:
        """Return when a message to `address` may go; each call reserves the next free slot, so
        concurrent callers for one number are spaced too, while other numbers never wait."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if len(self._next) >= _PRUNE_AT:
            self._next = {key: at for key, at in self._next.items() if at > now}
        slot = max(now, self._next.get(address, now))
        self._next[address] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
