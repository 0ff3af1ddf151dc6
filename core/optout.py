"""Who asked for no more messages they did not ask for, per bot, channel and address.

An opt-out stops what the service sends on its own initiative (notices, staff messages, surveys); the
answers to a citizen's own messages still go out, because the citizen asked for those by writing. Any
channel may use it: SMS records its STOP / 退订 keywords and the platform's "unsubscribed" errors here,
and the outbox dispatcher asks `is_opted_out` before sending anything that is not a reply.

Addresses are found by the same keyed hash that finds conversations (`core.inbox.address_hash`), never
stored in clear. Keyword messages are remembered by their provider id, so a platform's retry of a
STOP or START that was already handled answers the same way and changes nothing, even when another
keyword came in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from core.backend import Backend
from core.inbox import address_hash
from storage.models import OptOut

Action = Literal["out", "in"]
Source = Literal["keyword", "provider"]

# Keyword messages remembered per address: far more than a platform's retries can span.
REMEMBERED_KEYWORDS = 20


async def is_opted_out(b: Backend, bot_id: str, channel: str, address: str) -> bool:
    query = select(OptOut.opted_out).where(*_matching(b, bot_id, channel, address))
    return bool((await b.session.scalars(query)).first())


async def opted_out_among(
    b: Backend, recipients: Iterable[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """The (bot id, channel, address) triples that opted out, in one query per bot channel: the
    dispatcher asks for a whole batch at once rather than a round trip per message."""
    by_key: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {}
    for recipient in recipients:
        bot_id, channel, address = recipient
        by_key.setdefault((bot_id, channel), {})[address_hash(b, channel, address)] = recipient
    found: set[tuple[str, str, str]] = set()
    for (bot_id, channel), hashes in by_key.items():
        query = select(OptOut.address_hash).where(
            OptOut.bot_id == bot_id,
            OptOut.channel == channel,
            OptOut.address_hash.in_(sorted(hashes)),
            OptOut.opted_out.is_(True),
        )
        found.update(hashes[hashed] for hashed in await b.session.scalars(query))
    return found


async def handled(b: Backend, bot_id: str, channel: str, address: str, message_id: str) -> Action | None:
    """What a keyword message already handled did ("out" or "in"); None when it is new."""
    query = select(OptOut.keyword_messages).where(*_matching(b, bot_id, channel, address))
    for remembered in (await b.session.scalars(query)).first() or []:
        if len(remembered) == 2 and remembered[0] == message_id and remembered[1] in ("out", "in"):
            return remembered[1]  # type: ignore[return-value]
    return None


async def opt_out(
    b: Backend,
    bot_id: str,
    channel: str,
    address: str,
    *,
    source: Source = "keyword",
    message_id: str | None = None,
) -> bool:
    """Stop unsolicited messages to `address`; True when it was not opted out before."""
    return await _set(b, bot_id, channel, address, opted_out=True, source=source, message_id=message_id)


async def opt_in(
    b: Backend, bot_id: str, channel: str, address: str, *, message_id: str | None = None
) -> bool:
    """Allow unsolicited messages again; True when the address was opted out before."""
    return await _set(b, bot_id, channel, address, opted_out=False, source="keyword", message_id=message_id)


async def _set(
    b: Backend,
    bot_id: str,
    channel: str,
    address: str,
    *,
    opted_out: bool,
    source: Source,
    message_id: str | None,
) -> bool:
    row = await _locked(b, bot_id, channel, address)
    fresh = False
    if row is None:
        if not opted_out and message_id is None:
            return False  # never opted out, and no keyword message to remember: nothing to write
        row, fresh = await _create(b, bot_id, channel, address, opted_out=opted_out, source=source)
    changed = opted_out if fresh else row.opted_out != opted_out
    now = b.clock.now()
    if changed:
        row.opted_out = opted_out
        row.source = source
        row.changed_at = now
    if message_id is not None and not any(m and m[0] == message_id for m in row.keyword_messages):
        action: Action = "out" if opted_out else "in"
        row.keyword_messages = [*row.keyword_messages, [message_id, action]][-REMEMBERED_KEYWORDS:]
        flag_modified(row, "keyword_messages")
    row.updated_at = now
    await b.session.flush()
    return changed


async def _locked(b: Backend, bot_id: str, channel: str, address: str) -> OptOut | None:
    query = (
        select(OptOut)
        .where(*_matching(b, bot_id, channel, address))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await b.session.scalars(query)).first()


async def _create(
    b: Backend, bot_id: str, channel: str, address: str, *, opted_out: bool, source: Source
) -> tuple[OptOut, bool]:
    """The new row and True, or the row a concurrent transaction made first and False."""
    now = b.clock.now()
    row = OptOut(
        bot_id=bot_id,
        channel=channel,
        address_hash=address_hash(b, channel, address),
        opted_out=opted_out,
        source=source,
        keyword_messages=[],
        changed_at=now,
        updated_at=now,
    )
    try:
        # Two keyword messages from a new address can race on PostgreSQL: the loser's insert fails on the
        # unique key once the winner commits, and it then works on the winner's row.
        async with b.session.begin_nested():
            b.session.add(row)
    except IntegrityError:
        found = await _locked(b, bot_id, channel, address)
        if found is None:
            raise
        return found, False
    return row, True


def _matching(b: Backend, bot_id: str, channel: str, address: str) -> tuple[Any, ...]:
    return (
        OptOut.bot_id == bot_id,
        OptOut.channel == channel,
        OptOut.address_hash == address_hash(b, channel, address),
    )
