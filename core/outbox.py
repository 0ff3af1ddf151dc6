"""Messages owed to citizens, and their way out: enqueue, claim with a lease, mark, retry with backoff.

Every reply is written here in the same transaction as the decision that produced it, so nothing is
promised that is not recorded, and nothing recorded is lost if the process dies before sending.
Workers claim due rows in one short transaction, send outside it, and mark the result in another;
a worker that dies mid-send leaves its rows "sending" until their lease runs out, then another
worker claims them again. Inline replies (sent in the webhook response) are recorded already "sent".
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import CursorResult

from core.backend import Backend
from core.messages import Outbound
from storage.models import OutboxMessage

# Statuses a platform's delivery callback may report, and those no later callback may overturn.
CALLBACK_STATUSES = frozenset({"sent", "delivered", "undelivered", "failed"})
_FINAL = frozenset({"delivered", "undelivered", "failed", "undeliverable"})


@dataclass(frozen=True)
class Claimed:
    """One row a worker now holds until its lease ends: everything needed to send it, decrypted."""

    id: int
    bot_id: str
    channel: str
    address: str
    outbound: Outbound
    attempts: int
    kind: str
    conversation_id: int | None


async def enqueue(
    b: Backend,
    *,
    bot_id: str,
    channel: str,
    address: str,
    outbound: Outbound,
    kind: str = "reply",
    conversation_id: int | None = None,
    inbound_id: int | None = None,
    inline: bool = False,
) -> OutboxMessage:
    now = b.clock.now()
    row = OutboxMessage(
        bot_id=bot_id,
        channel=channel,
        conversation_id=conversation_id,
        inbound_id=inbound_id,
        address_enc=b.keyring.encrypt(address),
        kind=kind,
        payload=outbound.to_json(),
        status="sent" if inline else "pending",
        inline=inline,
        attempts=1 if inline else 0,
        next_attempt_at=None if inline else now,
        sent_at=now if inline else None,
        created_at=now,
        updated_at=now,
    )
    b.session.add(row)
    await b.session.flush()
    return row


async def claim_inline(b: Backend, outbox_ids: Collection[int]) -> set[int]:
    """Take still-pending rows for the platform's response (WeChat's passive reply), as already sent.

    Conditional on the status, so a row the dispatcher claimed first is left to it: each row goes out
    exactly one way.
    """
    if not outbox_ids:
        return set()
    now = b.clock.now()
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(list(outbox_ids)), OutboxMessage.status == "pending")
        .with_for_update(skip_locked=True)
    )
    rows = list((await b.session.execute(query)).scalars())
    for row in rows:
        row.status = "sent"
        row.inline = True
        row.attempts += 1
        row.sent_at = now
        row.next_attempt_at = None
        row.updated_at = now
    await b.session.flush()
    return {_id(row) for row in rows}


async def inline_replies_for(b: Backend, inbound_id: int) -> list[Outbound]:
    """The replies a message got in the platform's response, for a replay of a budgeted channel."""
    query = (
        select(OutboxMessage.payload)
        .where(OutboxMessage.inbound_id == inbound_id, OutboxMessage.inline.is_(True))
        .order_by(OutboxMessage.id)
    )
    return [Outbound.from_json(payload) for payload in (await b.session.execute(query)).scalars()]


async def replies_for(b: Backend, inbound_id: int) -> list[Outbound]:
    """What the first delivery of a message answered, so a provider's retry gets the same answer."""
    query = (
        select(OutboxMessage.payload).where(OutboxMessage.inbound_id == inbound_id).order_by(OutboxMessage.id)
    )
    return [Outbound.from_json(payload) for payload in await b.session.scalars(query)]


async def claim(
    b: Backend,
    *,
    limit: int = 50,
    lease: timedelta = timedelta(seconds=60),
    channels: Collection[str] | None = None,
) -> list[Claimed]:
    """Take up to `limit` due rows, oldest first; commit promptly so other workers skip them.

    Several workers claim at once, and a conversation's rows must not overtake each other on the way
    out (three staff answers arrive in the order written). So a worker takes a conversation's rows only
    as an unbroken run from the first one due or being sent: never a row behind one that another
    worker holds. It sends the run one row after another; a row that fails and waits for its retry
    does not hold the rest back.
    """
    now = b.clock.now()
    due = or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )
    query = select(OutboxMessage).where(due)
    if channels is not None:
        query = query.where(OutboxMessage.channel.in_(list(channels)))
    query = (
        query.order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    rows = await _in_turn(b, list(await b.session.scalars(query)), now)
    claimed: list[Claimed] = []
    for row in rows:
        row.status = "sending"
        row.lease_until = now + lease
        row.attempts += 1
        row.updated_at = now
        claimed.append(
            Claimed(
                id=_id(row),
                bot_id=row.bot_id,
                channel=row.channel,
                address=b.keyring.decrypt(row.address_enc),
                outbound=Outbound.from_json(row.payload),
                attempts=row.attempts,
                kind=row.kind,
                conversation_id=row.conversation_id,
            )
        )
    await b.session.flush()
    return claimed


async def _in_turn(b: Backend, rows: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
    """The locked rows that head their conversation's line, with the rows right behind them.

    A conversation's line is its rows due or being sent, in id order. A row locked by another worker's
    claim was skipped by the query above but still stands in the line (its claim is not committed
    yet, or it is "sending"), and so stops this worker from taking anything behind it.
    """
    conversations = {row.conversation_id for row in rows if row.conversation_id is not None}
    if not conversations:
        return rows
    in_line = or_(
        OutboxMessage.status == "sending",
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
    )
    query = (
        select(OutboxMessage.conversation_id, OutboxMessage.id)
        .where(OutboxMessage.conversation_id.in_(conversations), in_line)
        .order_by(OutboxMessage.id)
    )
    lines: dict[int, list[int]] = {}
    for conversation_id, row_id in await b.session.execute(query):
        lines.setdefault(conversation_id, []).append(row_id)
    taken: list[OutboxMessage] = []
    reached: dict[int, int] = {}  # conversation → how far along its line this worker's rows go
    for row in rows:
        conversation = row.conversation_id
        if conversation is None:
            taken.append(row)
            continue
        line, position = lines.get(conversation, []), reached.get(conversation, 0)
        if position < len(line) and line[position] == row.id:
            taken.append(row)
            reached[conversation] = position + 1
        else:
            reached[conversation] = len(line)  # a gap: nothing further back in this line either
    return taken


async def renew(b: Backend, claimed: Claimed, lease: timedelta) -> bool:
    """Extend the lease on a row this worker still holds; False when it has lost the row.

    A worker sends its batch one row after another per address, so it may reach a row after the
    lease ran out and another worker claimed it again. Each claim counts an attempt, so an unchanged
    count proves nobody else has claimed the row since; renewing then gives the send a whole lease.
    """
    now = b.clock.now()
    result: CursorResult[Any] = await b.session.execute(  # type: ignore[assignment]
        update(OutboxMessage)
        .where(
            OutboxMessage.id == claimed.id,
            OutboxMessage.status == "sending",
            OutboxMessage.attempts == claimed.attempts,
        )
        .values(lease_until=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_sent(b: Backend, outbox_id: int, *, provider_message_id: str | None = None) -> None:
    row = await _row(b, outbox_id)
    now = b.clock.now()
    if row.status not in _FINAL:  # a fast delivery callback may already have said more
        row.status = "sent"
    row.provider_message_id = provider_message_id or row.provider_message_id
    row.sent_at = row.sent_at or now
    row.lease_until = None
    row.next_attempt_at = None
    row.error = None
    row.updated_at = now


async def mark_status(b: Backend, provider_message_id: str, status: str, *, error: str | None = None) -> bool:
    """Apply a platform's delivery callback; False when the id is not ours (or not recorded yet).

    Callbacks arrive out of order, so a late "sent" never overturns "delivered" or "failed".
    """
    if status not in CALLBACK_STATUSES:
        raise ValueError(f"unknown delivery status {status!r}")
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.provider_message_id == provider_message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rows = list(await b.session.scalars(query))
    now = b.clock.now()
    for row in rows:
        if status == "sent" and row.status in _FINAL:
            continue
        row.status = status
        if error is not None:
            row.error = error
        row.updated_at = now
    return bool(rows)


async def mark_failed(
    b: Backend, outbox_id: int, error: str, *, retry: bool, retry_after: float | None = None
) -> None:
    """Schedule another try with exponential backoff, or give up visibly.

    Jitter spreads the retries of a burst (a platform outage fails many rows at once) so they do
    not all hit the platform again in the same second. A platform that said how long to wait
    (`retry_after`, HTTP 429) is waited for at least that long.
    """
    row = await _row(b, outbox_id)
    now = b.clock.now()
    row.error = error
    row.lease_until = None
    row.updated_at = now
    if retry and row.attempts < b.policy.outbox_max_attempts:
        row.status = "pending"
        wait = backoff(b, row.attempts)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        row.next_attempt_at = now + wait
    else:
        row.status = "failed" if retry else "undeliverable"
        row.next_attempt_at = None


def backoff(b: Backend, attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: doubling from the base up to the cap, with jitter."""
    policy = b.policy
    exponent = min(max(attempts - 1, 0), 62)  # the cap is reached long before; keeps the float finite
    seconds = min(policy.outbox_backoff_cap_seconds, policy.outbox_backoff_seconds * 2.0**exponent)
    return timedelta(seconds=seconds * random.uniform(0.5, 1.0))


async def for_conversation(
    b: Backend, conversation_id: int, *, after_id: int = 0, kinds: Collection[str] | None = None
) -> list[tuple[int, Outbound, str]]:
    """Messages to one conversation after `after_id`: web chat polls this for staff replies."""
    query = select(OutboxMessage.id, OutboxMessage.payload, OutboxMessage.status).where(
        OutboxMessage.conversation_id == conversation_id, OutboxMessage.id > after_id
    )
    if kinds is not None:
        query = query.where(OutboxMessage.kind.in_(list(kinds)))
    rows = await b.session.execute(query.order_by(OutboxMessage.id))
    return [(row_id, Outbound.from_json(payload), status) for row_id, payload, status in rows]


async def mark_delivered(b: Backend, outbox_ids: Collection[int]) -> None:
    """A channel that hands messages over itself (web chat polling) confirms what reached the citizen."""
    ids = list(outbox_ids)
    if not ids:
        return
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status != "delivered")
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = b.clock.now()
    for row in await b.session.scalars(query):
        row.status = "delivered"
        row.sent_at = row.sent_at or now
        row.lease_until = None
        row.next_attempt_at = None
        row.updated_at = now


async def _row(b: Backend, outbox_id: int) -> OutboxMessage:
    row = await b.session.get(OutboxMessage, outbox_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise LookupError(f"no outbox message {outbox_id}")
    return row


def _id(row: OutboxMessage) -> int:
    if row.id is None:
        raise RuntimeError("outbox row has no id; it was not flushed")
    return row.id
