"""Handoff to a person (转人工): the desk queue, staff replies on the citizen's own channel, and release.

While a handoff is open the conversation's mode is "handoff" and the bot stays quiet; closing it
gives the conversation back to the bot at the menu. Staff actions lock the conversation row before
the handoff row, the same order the inbound path takes, so a citizen writing while staff close the
handoff cannot deadlock with it nor have the reset state overwritten by a stale step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from core import audit, outbox
from core.backend import Backend
from core.messages import Attachment, Capabilities, Outbound, render_text
from storage.models import Conversation, Handoff, InboundMessage, OutboxMessage

ACTIVE = ("waiting", "claimed")
_PLAIN = Capabilities(buttons=False)  # staff read the choices the citizen was offered as numbered lines


class HandoffClosedError(ValueError):
    """Staff tried to act on a handoff that was already closed: the bot has the conversation again."""


class HandoffNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class HandoffView:
    id: int
    bot_id: str
    channel: str
    conversation_id: int
    status: str
    reason: str
    opened_at: datetime
    claimed_by: str | None
    last_text: str | None  # the citizen's latest words, for the desk queue


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    who: str  # "citizen", "bot" or "staff"
    text: str


async def open_handoff(
    b: Backend, *, bot_id: str, conversation: Conversation, reason: str, department: str | None = None
) -> HandoffView:
    """Put the conversation in the desk queue; asking twice does not queue it twice."""
    conversation_id = _id(conversation.id)
    now = b.clock.now()
    conversation.mode = "handoff"
    conversation.updated_at = now
    handoff = await _active(b, conversation_id)
    if handoff is None:
        handoff = Handoff(
            bot_id=bot_id,
            conversation_id=conversation_id,
            status="waiting",
            reason=reason,
            department=department,
            opened_at=now,
        )
        b.session.add(handoff)
        await b.session.flush()
    return await _view(b, handoff, conversation.channel)


async def active_for(b: Backend, conversation_id: int) -> HandoffView | None:
    handoff = await _active(b, conversation_id)
    if handoff is None:
        return None
    channel = await b.session.scalar(select(Conversation.channel).where(Conversation.id == conversation_id))
    return await _view(b, handoff, channel or "")


async def list_open(b: Backend, *, bot_id: str | None = None) -> list[HandoffView]:
    """The desk queue: waiting and claimed handoffs, longest waiting first."""
    latest_text = (
        select(InboundMessage.conversation_id, func.max(InboundMessage.id).label("inbound_id"))
        .where(InboundMessage.text != "")
        .group_by(InboundMessage.conversation_id)
        .subquery()
    )
    query = (
        select(Handoff, Conversation.channel, InboundMessage.text)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .outerjoin(latest_text, latest_text.c.conversation_id == Handoff.conversation_id)
        .outerjoin(InboundMessage, InboundMessage.id == latest_text.c.inbound_id)
        .where(Handoff.status.in_(ACTIVE))
        .order_by(Handoff.opened_at, Handoff.id)
    )
    if bot_id is not None:
        query = query.where(Handoff.bot_id == bot_id)
    rows = await b.session.execute(query)
    return [_make_view(handoff, channel, text) for handoff, channel, text in rows]


async def transcript(b: Backend, conversation_id: int, *, limit: int = 200) -> list[TranscriptLine]:
    """The latest `limit` lines of the conversation, oldest first, as staff need to read them.

    A reply is placed no earlier than the message it answers, so a platform timestamp slightly ahead
    of our clock cannot show an answer before its question.
    """
    inbound_rows = list(
        await b.session.scalars(
            select(InboundMessage)
            .where(InboundMessage.conversation_id == conversation_id)
            .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
            .limit(limit)
        )
    )
    outbox_rows = list(
        await b.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.conversation_id == conversation_id)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )
    asked_at = {row.id: row.received_at for row in inbound_rows}
    keyed: list[tuple[tuple[datetime, int, int], TranscriptLine]] = []
    for message in inbound_rows:
        line = TranscriptLine(at=message.received_at, who="citizen", text=_inbound_text(message))
        keyed.append(((message.received_at, 0, _id(message.id)), line))
    for row in outbox_rows:
        at = row.created_at
        question = asked_at.get(row.inbound_id) if row.inbound_id is not None else None
        if question is not None and question > at:
            at = question
        who = "staff" if row.kind == "staff" else "bot"
        line = TranscriptLine(at=at, who=who, text=render_text(outbox.outbound_of(b, row.payload), _PLAIN))
        keyed.append(((at, 1, _id(row.id)), line))
    keyed.sort(key=lambda pair: pair[0])
    return [line for _, line in keyed[-limit:]] if limit > 0 else []


async def staff_reply(
    b: Backend, handoff_id: int, *, staff: str, text: str, source: str = "cli"
) -> OutboxMessage:
    """Send a staff answer to the citizen's channel; the first answer claims a waiting handoff."""
    text = text.strip()
    if not text:
        raise ValueError("an empty reply")
    handoff, conversation = await _lock(b, handoff_id)
    if handoff.status == "closed":
        raise HandoffClosedError(f"handoff {handoff_id} is closed")
    now = b.clock.now()
    if handoff.status == "waiting":
        handoff.status = "claimed"
        handoff.claimed_by = staff
        handoff.claimed_at = now
    row = await outbox.enqueue(
        b,
        bot_id=conversation.bot_id,
        channel=conversation.channel,
        address=b.keyring.decrypt(conversation.address_enc),
        outbound=Outbound(text=text),
        kind="staff",
        conversation_id=conversation.id,
    )
    await audit.record(
        b,
        actor=staff,
        action="handoff.reply",
        target_type="handoff",
        target_id=str(handoff_id),
        detail={"conversation_id": conversation.id, "outbox_id": row.id, "length": len(text)},
        source=source,
    )
    return row


async def close_handoff(
    b: Backend, handoff_id: int, *, staff: str, notice: Outbound | None, source: str = "cli"
) -> None:
    """Give the conversation back to the bot, at the menu. Closing twice changes nothing more."""
    handoff, conversation = await _lock(b, handoff_id)
    if handoff.status == "closed":
        return
    now = b.clock.now()
    handoff.status = "closed"
    handoff.closed_by = staff
    handoff.closed_at = now
    conversation.mode = "bot"
    conversation.state = {}
    conversation.updated_at = now
    notice_id: int | None = None
    if notice is not None:
        row = await outbox.enqueue(
            b,
            bot_id=conversation.bot_id,
            channel=conversation.channel,
            address=b.keyring.decrypt(conversation.address_enc),
            outbound=notice,
            kind="notice",
            conversation_id=conversation.id,
        )
        notice_id = row.id
    await audit.record(
        b,
        actor=staff,
        action="handoff.close",
        target_type="handoff",
        target_id=str(handoff_id),
        detail={"conversation_id": conversation.id, "notice_outbox_id": notice_id},
        source=source,
    )


async def _lock(b: Backend, handoff_id: int) -> tuple[Handoff, Conversation]:
    conversation_id = await b.session.scalar(select(Handoff.conversation_id).where(Handoff.id == handoff_id))
    if conversation_id is None:
        raise HandoffNotFoundError(f"no handoff {handoff_id}")
    conversation = await b.session.get(
        Conversation, conversation_id, with_for_update=True, populate_existing=True
    )
    handoff = await b.session.get(Handoff, handoff_id, with_for_update=True, populate_existing=True)
    if conversation is None or handoff is None:
        raise HandoffNotFoundError(f"no handoff {handoff_id}")
    return handoff, conversation


async def _active(b: Backend, conversation_id: int) -> Handoff | None:
    query = (
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id, Handoff.status.in_(ACTIVE))
        .order_by(Handoff.id.desc())
        .limit(1)
    )
    return (await b.session.scalars(query)).first()


async def _view(b: Backend, handoff: Handoff, channel: str) -> HandoffView:
    text = await b.session.scalar(
        select(InboundMessage.text)
        .where(InboundMessage.conversation_id == handoff.conversation_id, InboundMessage.text != "")
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )
    return _make_view(handoff, channel, text)


def _make_view(handoff: Handoff, channel: str, last_text: str | None) -> HandoffView:
    return HandoffView(
        id=_id(handoff.id),
        bot_id=handoff.bot_id,
        channel=channel,
        conversation_id=handoff.conversation_id,
        status=handoff.status,
        reason=handoff.reason,
        opened_at=handoff.opened_at,
        claimed_by=handoff.claimed_by,
        last_text=last_text,
    )


def _inbound_text(message: InboundMessage) -> str:
    """The words, then what came with them; file URLs stay out (a Telegram one embeds the bot token)."""
    parts = [message.text] if message.text else []
    for data in message.attachments:
        parts.append(_describe(Attachment.from_json(data)))
    return "\n".join(parts)


def _describe(attachment: Attachment) -> str:
    if attachment.kind == "voice":
        return f"[voice] {attachment.transcript}" if attachment.transcript else "[voice]"
    if attachment.kind == "location":
        place = attachment.label or ""
        if attachment.latitude is not None and attachment.longitude is not None:
            place = f"{place} ({attachment.latitude:.5f}, {attachment.longitude:.5f})".strip()
        return f"[location] {place}".rstrip()
    return f"[{attachment.kind}]"


def _id(value: int | None) -> int:
    if value is None:
        raise RuntimeError("row has no id; it was not flushed")
    return value
