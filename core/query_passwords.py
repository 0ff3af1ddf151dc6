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
import contextlib
import functools
import os
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from core.crypto import Keyring
from core.receipts import new_password

# One ready password: the next is hashed in the background once a submission has taken it (the
# pipeline starts it after the answer); submissions closer together than one hash wait for that hash.
STOCK_SIZE = 1
AHEAD_NICE = 10  # CPU priority of the hashing made ahead (see _ahead_thread); the serving thread is 0


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
                self._hashing = asyncio.ensure_future(self._make(ahead=True))
                self._ready.append(await asyncio.shield(self._hashing))
        finally:
            self._hashing = None

    async def _make(self, *, ahead: bool = False) -> tuple[str, str]:
        password = new_password()
        executor = _ahead_thread() if ahead else None  # None: the loop's own pool, at full priority
        loop = asyncio.get_running_loop()
        return password, await loop.run_in_executor(executor, self.keyring.hash_password, password)


@functools.cache
def _ahead_thread() -> ThreadPoolExecutor:
    """The thread that hashes passwords ahead, at a lower CPU priority than the one serving messages.

    A hash is 35 ms of CPU; on a server with one core it ran beside the event loop as an equal, and
    messages answered during it took twice as long (the Telegram p99 at half rate was set by it). Made
    ahead, a hash can wait: at nice 10 it gets about a tenth of a busy core and all of an idle one. A
    submission that finds it under way waits for it: on a saturated core up to ten times its 35 ms,
    where nice 19 would make that seconds.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-ahead", initializer=_lower_priority)


def _lower_priority() -> None:
    # Linux keeps nice per thread, so this lowers only the hashing thread (never raises it above the
    # process's own, inherited at start); elsewhere it may not apply.
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, max(os.getpriority(os.PRIO_PROCESS, thread), AHEAD_NICE))


_stocks: weakref.WeakKeyDictionary[Keyring, PasswordStock] = weakref.WeakKeyDictionary()


def stock_for(keyring: Keyring) -> PasswordStock:
    """The stock of this keyring (hashes are peppered with its secret, so they cannot be shared)."""
    stock = _stocks.get(keyring)
    if stock is None:
        stock = _stocks[keyring] = PasswordStock(keyring)
    return stock
