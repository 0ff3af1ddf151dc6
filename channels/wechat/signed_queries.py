"""Which body each signed query string of a plain-mode callback came with.

In plain mode WeChat signs the token, timestamp and nonce, never the body. Anyone who saw one signed URL
(a proxy or load-balancer log) could post any message under it, as any openid, until the timestamp goes
stale. WeChat never signs two different messages with the same timestamp and nonce, and its retries
resend the same body, so a signature seen before with another body is a forgery. Remembered in this
process for as long as the timestamp stays acceptable; a deployment of several web processes should use
safe mode, whose msg_signature covers the ciphertext (docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

# Without a freshness check a signature never expires; remember it at least this long anyway.
DEFAULT_SECONDS = 300.0
MAX_REMEMBERED = 100_000  # a few MB at most; the oldest are forgotten first


class SignedQueries:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._seen: OrderedDict[tuple[str, str, str], tuple[str, float]] = OrderedDict()
        self._now = clock

    def matches(self, signature: str, timestamp: str, nonce: str, body: str, *, keep: float | None) -> bool:
        """True for the first body seen under this signature and for the same body again; False otherwise."""
        now = self._now()
        self._forget_expired(now)
        key = (signature, timestamp, nonce)
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        seen = self._seen.get(key)
        if seen is not None:
            return seen[0] == digest
        self._seen[key] = (digest, now + (keep or DEFAULT_SECONDS) * 2)
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def _forget_expired(self, now: float) -> None:
        while self._seen:
            key, (_, until) = next(iter(self._seen.items()))
            if until > now:
                break
            del self._seen[key]
