"""Messages owed to citizens, and their way out: enqueue, claim with a lease, mark, retry with backoff.

Every reply is written here in the same transaction as the decision that produced it, so nothing is
promised that is not recorded, and nothing recorded is lost if the process dies before sending.
Workers claim due rows in one short transaction, send outside it, and mark the result in another;
a worker that dies mid-send leaves its rows "sending" until their lease runs out, then another
worker claims them again. Inline replies (sent in the webhook response) are recorded already "sent".
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, not_, or_, select, update
from sqlalchemy.engine import CursorResult

from core import send_rate
from core.backend import Backend
from core.crypto import Keyring
from core.messages import Outbound
from core.send_rate import SendRates
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
    not_before: datetime | None = None  # a capped bot channel's send may not start earlier


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
        payload=_payload(b, outbound, kind),
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


def _payload(b: Backend, outbound: Outbound, kind: str) -> dict[str, Any]:
    """A conversation's reply is stored encrypted: it is the one place a query password is ever written
    (the receipt, kept so a platform's retry gets the same answer), and it echoes what the citizen
    looked up. Notices, surveys and staff messages hold nothing the citizen typed and stay readable."""
    if kind == "reply":
        return {"sealed": b.keyring.encrypt_json(outbound.to_json())}
    return outbound.to_json()


def outbound_of(b: Backend | Keyring, payload: dict[str, Any]) -> Outbound:
    """The message a row's payload holds, sealed or not."""
    if "sealed" in payload:
        keyring = b if isinstance(b, Keyring) else b.keyring
        return Outbound.from_json(keyring.decrypt_json(payload["sealed"]))
    return Outbound.from_json(payload)


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
    return [outbound_of(b, payload) for payload in (await b.session.execute(query)).scalars()]


async def replies_for(b: Backend, inbound_id: int) -> list[Outbound]:
    """What the first delivery of a message answered, so a provider's retry gets the same answer."""
    query = (
        select(OutboxMessage.payload).where(OutboxMessage.inbound_id == inbound_id).order_by(OutboxMessage.id)
    )
    return [outbound_of(b, payload) for payload in await b.session.scalars(query)]


@dataclass(frozen=True)
class Batch:
    """A claim's rows, and when a capped bot channel with rows left has room again (None: no wait)."""

    rows: list[Claimed]
    room_at: datetime | None = None


async def claim(
    b: Backend,
    *,
    limit: int = 50,
    lease: timedelta = timedelta(seconds=60),
    channels: Collection[str] | None = None,
    rates: SendRates | None = None,
) -> list[Claimed]:
    """`claim_batch`'s rows."""
    return (await claim_batch(b, limit=limit, lease=lease, channels=channels, rates=rates)).rows


async def claim_batch(
    b: Backend,
    *,
    limit: int = 50,
    lease: timedelta = timedelta(seconds=60),
    channels: Collection[str] | None = None,
    rates: SendRates | None = None,
) -> Batch:
    """Take up to `limit` due rows, oldest first; commit promptly so other workers skip them.

    Several workers claim at once, and a conversation's rows must not overtake each other on the way
    out (three staff answers arrive in the order written). So a worker takes a conversation's rows only
    as an unbroken run from the first one due or being sent: never a row behind one that another
    worker holds. It sends the run one row after another; a row that fails and waits for its retry
    does not hold the rest back.

    A bot channel with a send rate in `rates` gets up to `limit` rows of its own, no more than its cap
    leaves room for (`core.send_rate`); the other rows share `limit`.
    """
    now = b.clock.now()
    due = or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )
    wanted = None if channels is None else set(channels)
    capped = {key: cap for key, cap in (rates or {}).items() if wanted is None or key[0] in wanted}
    found: list[OutboxMessage] = []
    starts: dict[int, datetime] = {}
    room_at: datetime | None = None
    for (channel, bot_id), per_second in capped.items():
        room = await send_rate.reserve(b, channel=channel, bot_id=bot_id, per_second=per_second, most=limit)
        mine = and_(OutboxMessage.channel == channel, OutboxMessage.bot_id == bot_id)
        # One row more than there is room for tells whether rows are left waiting for the next room.
        rows = await _due(b, select(OutboxMessage).where(due, mine), len(room.starts) + 1)
        if len(rows) > len(room.starts):
            # Every place held by a send in flight: none comes free sooner than a second from now.
            at = room.next_at or now + send_rate.WINDOW
            room_at = at if room_at is None else min(room_at, at)
        rows = rows[: len(room.starts)]
        starts.update(zip((_id(row) for row in rows), room.starts, strict=False))
        found += rows
    query = select(OutboxMessage).where(due)
    if wanted is not None:
        query = query.where(OutboxMessage.channel.in_(sorted(wanted)))
    if capped:
        query = query.where(
            not_(or_(*(and_(OutboxMessage.channel == ch, OutboxMessage.bot_id == bot) for ch, bot in capped)))
        )
    found += await _due(b, query, limit)
    rows = await _in_turn(b, sorted(found, key=_id), now)
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
                outbound=outbound_of(b, row.payload),
                attempts=row.attempts,
                kind=row.kind,
                conversation_id=row.conversation_id,
                not_before=starts.get(_id(row)),
            )
        )
    await b.session.flush()
    return Batch(claimed, room_at)


async def _due(b: Backend, query: Select[tuple[OutboxMessage]], limit: int) -> list[OutboxMessage]:
    """The oldest `limit` rows of `query`, locked; rows another worker is claiming are skipped."""
    query = (
        query.order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(await b.session.scalars(query))


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


async def mark_sent(
    b: Backend,
    outbox_id: int,
    *,
    provider_message_id: str | None = None,
    answered_at: datetime | None = None,
) -> None:
    await mark_sent_many(b, {outbox_id: provider_message_id}, answered_at={outbox_id: answered_at})


async def mark_sent_many(
    b: Backend, sent: Mapping[int, str | None], *, answered_at: Mapping[int, datetime | None] | None = None
) -> None:
    """Record sends the platform accepted (outbox id → its message id), in one statement per step:
    the dispatcher marks what finished together in one commit (group commit), not one each.
    `answered_at` is when each answer came (default now): the send-rate window starts there, not at
    the commit, which may wait behind others."""
    if not sent:
        return
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(sorted(sent)))
        .order_by(OutboxMessage.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rows = {_id(row): row for row in await b.session.scalars(query)}
    missing = set(sent) - set(rows)
    if missing:
        raise LookupError(f"no outbox message {min(missing)}")
    now = b.clock.now()
    for outbox_id, provider_message_id in sent.items():
        answered = (answered_at or {}).get(outbox_id) or now
        _sent(rows[outbox_id], provider_message_id, now, answered)


def _sent(row: OutboxMessage, provider_message_id: str | None, now: datetime, answered: datetime) -> None:
    row.attempted_at = answered  # the answer is in: from then on one second of the send-rate window
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
    b: Backend,
    outbox_id: int,
    error: str,
    *,
    retry: bool,
    retry_after: float | None = None,
    attempted: bool = True,
    answered_at: datetime | None = None,
) -> None:
    """Schedule another try with exponential backoff, or give up visibly.

    Jitter spreads the retries of a burst (a platform outage fails many rows at once) so they do
    not all hit the platform again in the same second. A platform that said how long to wait
    (`retry_after`, HTTP 429) is waited for at least that long. A refused send still reached the
    platform and counts against the send rate; `attempted=False` is for rows never sent (opted out).
    """
    row = await _row(b, outbox_id)
    now = b.clock.now()
    if attempted:
        row.attempted_at = answered_at or now
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
    return [(row_id, outbound_of(b, payload), status) for row_id, payload, status in rows]


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
