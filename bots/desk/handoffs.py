"""The desk's reads and writes on handoffs: the queue as a viewer sees it, a transcript with delivery
status on every staff answer, and claiming.

Claiming locks the conversation row before the handoff row, the order `core.handoff` and the inbound
path use, so a citizen writing while a clerk claims cannot deadlock with it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from bots.desk.context import Viewer
from bots.desk.scope import case_filter, handoff_filter, may_see_handoff
from conversations import texts
from core import audit, outbox
from core.backend import Backend
from core.handoff import ACTIVE
from core.messages import Attachment, Capabilities, render_text
from storage.models import AuditEvent, Case, Conversation, Handoff, InboundMessage, OutboxMessage

_PLAIN = Capabilities(buttons=False)
STAFF_KINDS = ("staff", "notice")
TRANSCRIPT_LIMIT = 200
TO_CASE = "conversation.to_case"
# Texts that carry a secret meant for the citizen alone: the query password of a receipt (shown once,
# stored only hashed) and a subsidy code. The outbox row keeps the sent text; the desk shows it masked.
SECRET_FIELDS = (("submit.receipt", "password"), ("subsidy.otp_sms", "code"))
# A receipt's case number, hidden from department staff: the case may be another department's, or a
# tip that this very conversation would tie to its reporter. The cases they may see are listed apart.
CASE_NUMBER_FIELDS = (("submit.receipt", "number"),)
MASK = "••••••••"


class HandoffTaken(Exception):
    """Someone else already answers this conversation; only a supervisor may take it over."""

    def __init__(self, by: str | None) -> None:
        super().__init__(by or "")
        self.by = by


@dataclass(frozen=True)
class QueueRow:
    id: int
    bot_id: str
    channel: str
    status: str
    reason: str
    department: str | None
    opened_at: datetime
    claimed_by: str | None
    last_text: str | None
    last_inbound_at: datetime | None
    last_staff_at: datetime | None

    @property
    def unanswered(self) -> bool:
        """The citizen wrote after the last staff answer (or nobody answered yet)."""
        if self.last_staff_at is None:
            return True
        return self.last_inbound_at is not None and self.last_inbound_at > self.last_staff_at


@dataclass(frozen=True)
class Line:
    at: datetime
    who: str  # citizen, bot, staff, notice
    text: str
    outbox_id: int | None = None
    status: str | None = None  # delivery status of a staff answer or notice


async def queue(b: Backend, viewer: Viewer) -> list[QueueRow]:
    """Open handoffs the viewer may see, longest waiting first."""
    active = select(Handoff.conversation_id).where(Handoff.status.in_(ACTIVE))
    last_in = (
        select(
            InboundMessage.conversation_id.label("cid"),
            func.max(InboundMessage.received_at).label("last_at"),
        )
        .where(InboundMessage.conversation_id.in_(active))
        .group_by(InboundMessage.conversation_id)
        .subquery()
    )
    last_staff = (
        select(OutboxMessage.conversation_id.label("cid"), func.max(OutboxMessage.created_at).label("at"))
        .where(OutboxMessage.kind == "staff", OutboxMessage.conversation_id.in_(active))
        .group_by(OutboxMessage.conversation_id)
        .subquery()
    )
    query = (
        select(Handoff, Conversation.channel, last_in.c.last_at, last_staff.c.at)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .outerjoin(last_in, last_in.c.cid == Handoff.conversation_id)
        .outerjoin(last_staff, last_staff.c.cid == Handoff.conversation_id)
        .where(Handoff.status.in_(ACTIVE), handoff_filter(viewer))
        .order_by(Handoff.opened_at, Handoff.id)
    )
    rows = list(await b.session.execute(query))
    texts = await _latest_texts(b, [handoff.conversation_id for handoff, *_ in rows])
    return [
        QueueRow(
            id=_id(handoff.id),
            bot_id=handoff.bot_id,
            channel=channel,
            status=handoff.status,
            reason=handoff.reason,
            department=handoff.department,
            opened_at=handoff.opened_at,
            claimed_by=handoff.claimed_by,
            last_text=texts.get(handoff.conversation_id),
            last_inbound_at=last_at,
            last_staff_at=staff_at,
        )
        for handoff, channel, last_at, staff_at in rows
    ]


async def _latest_texts(b: Backend, conversation_ids: list[int]) -> dict[int, str]:
    if not conversation_ids:
        return {}
    newest = (
        select(func.max(InboundMessage.id))
        .where(InboundMessage.conversation_id.in_(conversation_ids), InboundMessage.text != "")
        .group_by(InboundMessage.conversation_id)
    )
    query = select(InboundMessage.conversation_id, InboundMessage.text).where(InboundMessage.id.in_(newest))
    return {cid: text for cid, text in await b.session.execute(query)}


def history_from(viewer: Viewer, handoff: Handoff) -> datetime | None:
    """Where a viewer's transcript starts. Before the handoff, the conversation may hold a tip being
    submitted (the reporter's name and phone, typed to the bot): that history is for supervisors only.
    Department staff read from the moment the citizen asked for a person."""
    return None if viewer.sees_all else handoff.opened_at


async def visible(b: Backend, viewer: Viewer, handoff_id: int) -> tuple[Handoff, Conversation] | None:
    """The handoff and its conversation, or None when it does not exist or is not the viewer's to see."""
    handoff = await b.session.get(Handoff, handoff_id)
    if handoff is None or not may_see_handoff(viewer, handoff):
        return None
    conversation = await b.session.get(Conversation, handoff.conversation_id)
    if conversation is None:
        return None
    return handoff, conversation


async def transcript(
    b: Backend,
    conversation_id: int,
    *,
    since: datetime | None = None,
    limit: int = TRANSCRIPT_LIMIT,
    hide_case_numbers: bool = False,
) -> list[Line]:
    """The latest lines, oldest first; a reply never shows before the message it answers.

    With `since` (the handoff's opening), only the message that asked for a person and what followed.
    """
    inbound_query = select(InboundMessage).where(InboundMessage.conversation_id == conversation_id)
    outbound_query = select(OutboxMessage).where(OutboxMessage.conversation_id == conversation_id)
    if since is not None:
        # The asking message is the newest one received by the time the handoff opened (a platform's
        # timestamp may be a little behind our clock, so it is found by id, not by time).
        asking = await b.session.scalar(
            select(func.max(InboundMessage.id)).where(
                InboundMessage.conversation_id == conversation_id, InboundMessage.received_at <= since
            )
        )
        if asking is None:
            inbound_query = inbound_query.where(InboundMessage.received_at >= since)
            outbound_query = outbound_query.where(OutboxMessage.created_at >= since)
        else:
            inbound_query = inbound_query.where(InboundMessage.id >= asking)
            # Bot replies follow the message they answer; staff answers and notices have none.
            outbound_query = outbound_query.where(
                or_(
                    OutboxMessage.inbound_id >= asking,
                    OutboxMessage.inbound_id.is_(None) & (OutboxMessage.created_at >= since),
                )
            )
    inbound = list(await b.session.scalars(inbound_query.order_by(InboundMessage.id.desc()).limit(limit)))
    outbound = list(await b.session.scalars(outbound_query.order_by(OutboxMessage.id.desc()).limit(limit)))
    asked_at = {row.id: row.received_at for row in inbound}
    keyed: list[tuple[tuple[datetime, int, int], Line]] = []
    for message in inbound:
        line = Line(at=message.received_at, who="citizen", text=describe(message))
        keyed.append(((message.received_at, 0, _id(message.id)), line))
    for row in outbound:
        at = row.created_at
        question = asked_at.get(row.inbound_id) if row.inbound_id is not None else None
        if question is not None and question > at:
            at = question
        who = row.kind if row.kind in STAFF_KINDS else "bot"
        text = mask_secrets(
            render_text(outbox.outbound_of(b, row.payload), _PLAIN), case_numbers=hide_case_numbers
        )
        status = row.status if who in STAFF_KINDS else None
        keyed.append(((at, 1, _id(row.id)), Line(at=at, who=who, text=text, outbox_id=row.id, status=status)))
    keyed.sort(key=lambda pair: pair[0])
    return [line for _, line in keyed[-limit:]]


@functools.cache
def _patterns(fields: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], ...]:
    """The words just before each field in every catalog ("查询密码：", ", password "), then digits."""
    labels: set[str] = set()
    for language in texts.LANGUAGES:
        for key, name in fields:
            for concise in (False, True):
                before = texts.raw(language, key, concise=concise).split("{" + name + "}")[0]
                label = re.split(r"\{\w+\}|\n", before)[-1][-12:]
                if label.strip():
                    labels.add(label)
    return tuple(re.compile("(" + re.escape(label) + r")\s*\d[\d-]{2,20}\d") for label in sorted(labels))


def mask_secrets(text: str, *, case_numbers: bool = False) -> str:
    """The text with its one-time secrets masked and, with `case_numbers`, the numbers of receipts."""
    fields = SECRET_FIELDS + (CASE_NUMBER_FIELDS if case_numbers else ())
    for pattern in _patterns(fields):
        text = pattern.sub(lambda found: found.group(1) + MASK, text)
    return text


def describe(message: InboundMessage) -> str:
    """Words first, then what came with them; file URLs stay out (a Telegram one embeds the bot token)."""
    parts = [message.text] if message.text else []
    for data in message.attachments:
        attachment = Attachment.from_json(data)
        if attachment.kind == "voice":
            parts.append(f"[语音] {attachment.transcript}" if attachment.transcript else "[语音]")
        elif attachment.kind == "location":
            place = attachment.label or ""
            if attachment.latitude is not None and attachment.longitude is not None:
                place = f"{place} ({attachment.latitude:.5f}, {attachment.longitude:.5f})".strip()
            parts.append(f"[位置] {place}".rstrip())
        elif attachment.kind == "image":
            parts.append("[图片]")
        else:
            parts.append("[文件]")
    return "\n".join(parts)


def citizen_words(lines: list[Line], since: datetime | None = None) -> str:
    """What the citizen wrote, as a first draft of a case description."""
    chosen = [line.text for line in lines if line.who == "citizen" and line.text.strip()]
    if since is not None:
        recent = [
            line.text for line in lines if line.who == "citizen" and line.at >= since and line.text.strip()
        ]
        chosen = recent or chosen
    return "\n".join(chosen)


async def claim(b: Backend, viewer: Viewer, handoff_id: int, *, where: str) -> Handoff:
    """Take a conversation: a waiting one becomes the viewer's; a supervisor may take one over."""
    handoff, _conversation = await lock(b, handoff_id)
    if handoff.status == "closed":
        raise ValueError("closed")
    if handoff.status == "claimed" and handoff.claimed_by == viewer.username:
        return handoff
    if handoff.status == "claimed" and not viewer.sees_all:
        raise HandoffTaken(handoff.claimed_by)
    previous = handoff.claimed_by
    handoff.status = "claimed"
    handoff.claimed_by = viewer.username
    handoff.claimed_at = b.clock.now()
    await audit.record(
        b,
        actor=viewer.username,
        action="conversation.claim",
        target_type="handoff",
        target_id=str(handoff_id),
        detail={"conversation_id": handoff.conversation_id, "taken_over_from": previous},
        source=where,
    )
    return handoff


def check_may_answer(viewer: Viewer, handoff: Handoff) -> None:
    """Replying or closing someone else's conversation is a supervisor's call."""
    if handoff.status == "claimed" and handoff.claimed_by != viewer.username and not viewer.sees_all:
        raise HandoffTaken(handoff.claimed_by)


async def lock(b: Backend, handoff_id: int) -> tuple[Handoff, Conversation]:
    conversation_id = await b.session.scalar(select(Handoff.conversation_id).where(Handoff.id == handoff_id))
    if conversation_id is None:
        raise LookupError(handoff_id)
    conversation = await b.session.get(
        Conversation, conversation_id, with_for_update=True, populate_existing=True
    )
    handoff = await b.session.get(Handoff, handoff_id, with_for_update=True, populate_existing=True)
    if conversation is None or handoff is None:
        raise LookupError(handoff_id)
    return handoff, conversation


async def cases_opened(b: Backend, viewer: Viewer, handoff_id: int) -> list[tuple[int, str]]:
    """(case id, number) of cases staff opened from this handoff, from the audit trail — those the
    viewer may see: a conversation open to every clerk may have become another department's case, or
    a tip whose reporter it would name."""
    rows = await b.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.target_type == "handoff",
            AuditEvent.target_id == str(handoff_id),
            AuditEvent.action == TO_CASE,
        )
        .order_by(AuditEvent.id)
    )
    opened = [
        (int(row.detail["case_id"]), str(row.detail["number"])) for row in rows if "case_id" in row.detail
    ]
    if not opened:
        return []
    query = select(Case.id).where(Case.id.in_([case_id for case_id, _ in opened]), case_filter(viewer))
    if not viewer.sees_all:
        query = query.where(Case.kind != "tip")
    visible = set(await b.session.scalars(query))
    return [(case_id, number) for case_id, number in opened if case_id in visible]


def _id(value: int | None) -> int:
    if value is None:
        raise RuntimeError("row has no id")
    return value
