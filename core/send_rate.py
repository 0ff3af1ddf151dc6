"""A cap on the messages one bot sends per second on one channel, held by every dispatcher together.

`sunshine serve` and `sunshine worker` both dispatch, several of each on one PostgreSQL database, so a
cap kept in each process would be multiplied by the number of processes. The outbox rows themselves
are the shared record: a row counts against its bot's channel while it is being sent ("sending", lease
not run out) and for one second after the platform answered it (`attempted_at`, written with the
result in the same update). A claim takes no more rows than the cap leaves room for, each with the
moment its send may start (`reserve`), and the claims for one bot's channel are taken one at a time
(SQLite has a single writer; PostgreSQL takes a transaction-scoped advisory lock), so two workers never
both see the same room. The clocks of the processes must agree (NTP): the window is kept in database
timestamps written by each process's clock.

The second is counted from the platform's answer, not from the start of the request, because the
platform receives a request at some moment between the two and only the answer proves it is past. So
no second at the platform ever holds more than the cap, whatever the network does; the price is one
round trip per slot: a full queue drains at cap × 1 s / (1 s + round trip), 98-99 % of the cap against
a platform a few milliseconds away.

The cap counts outbox rows: a long SMS that goes as several messages counts once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, text

from core.backend import Backend
from storage.models import OutboxMessage

WINDOW = timedelta(seconds=1)
# How far ahead a claim takes places that come free: far enough that a claim carries many rows at high
# caps (a claim is a commit), short enough that the batch's wait holds the other channels' rows back
# little (the dispatcher sends the next batch when this one is done).
HORIZON = timedelta(seconds=0.2)

# (channel, bot id) → the most messages that bot may send on that channel in any one second.
SendRates = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Room:
    """The rows a bot channel may claim now: the k-th claimed row may be sent from `starts[k]` on."""

    starts: tuple[datetime, ...]
    next_at: datetime | None = None  # the next place to come free after these (beyond the horizon)


async def reserve(b: Backend, *, channel: str, bot_id: str, per_second: int, most: int) -> Room:
    """Up to `most` send times under the cap, with the claims of this bot channel held off until the
    transaction ends, so that the rows claimed with them are counted by the next claimer.

    Think of the cap as `per_second` tokens. A send holds one from its claim until a second after its
    answer; the next send on that token may start then. Sends in flight ("sending", lease not run out)
    and sends answered within the last second both hold tokens, so `in_flight + answered - cap` of the
    answered ones are already promised to rows claimed earlier (the oldest, since promises are made
    oldest first) and the rest pass on, in order, as they leave the window. A token held by a send in
    flight cannot be promised: nobody knows when it will be answered.

    Claiming places that come free within `HORIZON` and sleeping until each start keeps a full queue
    at the cap, where claiming only free tokens would be a claim (a commit) per freed token.
    """
    if per_second < 1:
        raise ValueError("a send rate is at least one message per second")
    await _serialise(b, channel, bot_id)
    now = b.clock.now()
    mine = and_(OutboxMessage.channel == channel, OutboxMessage.bot_id == bot_id)
    in_flight = and_(OutboxMessage.status == "sending", OutboxMessage.lease_until >= now)
    sending = int(
        await b.session.scalar(select(func.count()).select_from(OutboxMessage).where(mine, in_flight)) or 0
    )
    answered_query = (
        select(OutboxMessage.attempted_at)
        .where(mine, OutboxMessage.attempted_at > now - WINDOW)
        .order_by(OutboxMessage.attempted_at)
    )
    answered = [at for at in await b.session.scalars(answered_query) if at is not None]
    promised = sending + len(answered) - per_second  # answered tokens already passed on (if > 0)
    starts: list[datetime] = [now] * max(0, min(most, -promised))
    for at in answered[max(promised, 0) :]:
        start = max(now, at + WINDOW)
        if start > now + HORIZON:
            return Room(starts=tuple(starts), next_at=start)
        if len(starts) >= most:
            break
        starts.append(start)
    return Room(starts=tuple(starts))


async def _serialise(b: Backend, channel: str, bot_id: str) -> None:
    """On PostgreSQL, one claimer per bot channel at a time (till commit); SQLite's writes already are."""
    if b.session.get_bind().dialect.name != "postgresql":
        return
    await b.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(channel, bot_id)})


def lock_key(channel: str, bot_id: str) -> int:
    """A stable signed 64-bit advisory lock key per bot channel (Python's hash() differs per process)."""
    digest = hashlib.blake2b(f"send-rate:{channel}:{bot_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
