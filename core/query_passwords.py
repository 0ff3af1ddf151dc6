"""Query passwords hashed ahead of the submission that hands them out, outside any transaction.

Hashing a query password (argon2id, deliberately slow) inside the submission's transaction holds the
database's write lock for the whole hash; on SQLite that stalls every other citizen's message for as
long. So the pipeline keeps a small stock per keyring, refilled after its transaction has committed,
and a submission takes a ready (password, hash) pair. When the stock is empty (the first submission of
a process, a burst, the desk) the hash is made on the spot, as before: same cost, same parameters.

A stocked password is a random string that belongs to no case yet; it exists only in this process's
memory until one submission takes it, and is never reused.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

from core.crypto import Keyring
from core.receipts import new_password

# One ready password: the next is hashed in the background once a submission has taken it (the
# pipeline starts it after the answer); submissions closer together than one hash wait for that hash.
STOCK_SIZE = 1


class PasswordStock:
    def __init__(self, keyring: Keyring, size: int = STOCK_SIZE) -> None:
        self.keyring = keyring
        self.size = size
        self._ready: deque[tuple[str, str]] = deque()
        self._hashing: asyncio.Task[tuple[str, str]] | None = None  # the refill's hash under way
        self._used = False

    @property
    def taken(self) -> bool:
        """A password was taken since the last refill began."""
        return self._used

    @property
    def short(self) -> bool:
        return len(self._ready) < self.size

    async def take(self) -> tuple[str, str]:
        """A fresh password and its hash: from the stock when one is ready, else the refill's hash under
        way (one hash at a time, so one hash's memory, 19 MiB), else hashed now."""
        self._used = True
        if not self._ready and self._hashing is not None:
            await asyncio.shield(self._hashing)
        if self._ready:
            return self._ready.popleft()
        return await self._make()

    async def refill_after_use(self) -> None:
        """Refill only once a password has been taken: a process that never gets a submission (or a
        message that submits nothing) costs no hash."""
        if self._used:
            self._used = False
            await self.refill()

    async def refill(self) -> None:
        """Hash until the stock is full; call it outside any transaction. One refill at a time: a second
        caller returns at once."""
        if self._hashing is not None:
            return
        try:
            while self.short:
                self._hashing = asyncio.ensure_future(self._make())
                self._ready.append(await asyncio.shield(self._hashing))
        finally:
            self._hashing = None

    async def _make(self) -> tuple[str, str]:
        password = new_password()
        return password, await asyncio.to_thread(self.keyring.hash_password, password)


_stocks: weakref.WeakKeyDictionary[Keyring, PasswordStock] = weakref.WeakKeyDictionary()


def stock_for(keyring: Keyring) -> PasswordStock:
    """The stock of this keyring (hashes are peppered with its secret, so they cannot be shared)."""
    stock = _stocks.get(keyring)
    if stock is None:
        stock = _stocks[keyring] = PasswordStock(keyring)
    return stock
