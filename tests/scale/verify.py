"""What the database and the platforms must show after many processes served many citizens at once.

Everything is compared per conversation, in id order, because order is the point: the rows a
conversation got (its messages, its case, its replies) must be exactly the phone's script, once each,
in the phone's order; and what the platforms delivered to a phone must be exactly that conversation's
outbox rows, once each, in id order.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select

from channels.sms import SmsChannel
from channels.sms.replies import bodies
from channels.wechat import WeChatChannel
from channels.wechat.messages import api_pieces
from core import outbox
from core.backend import Backend
from core.clock import SystemClock
from core.crypto import Keyring
from core.inbox import address_hash
from core.messages import Outbound, render_text
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database
from storage.models import Case, Conversation, InboundMessage, OutboxMessage
from tests.scale.cluster import BOT, SECRET_KEY
from tests.scale.phones import Script, Transcript
from tests.scale.platforms import Platforms

STAFF_BURST = 3  # staff messages queued at once to each citizen after their complaint


def keyring() -> Keyring:
    return Keyring(SECRET_KEY, password_cost="fast")


@functools.cache
def _keys() -> Keyring:
    return keyring()


def _outbound(row: OutboxMessage) -> Outbound:
    """A row's message; replies are stored sealed with the deployment's key."""
    return outbox.outbound_of(_keys(), row.payload)


def backend(session: object, keys: Keyring) -> Backend:
    policy = Policy()
    calendar = WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)
    return Backend(session=session, keyring=keys, clock=SystemClock(), policy=policy, calendar=calendar)  # type: ignore[arg-type]



def by_conversation(
    inbound: list[InboundMessage], cases: list[Case], rows: list[OutboxMessage]
) -> tuple[
    defaultdict[int, list[InboundMessage]],
    defaultdict[int | None, list[Case]],
    defaultdict[int | None, list[OutboxMessage]],
]:
    """Each conversation's inbound messages, cases and outbox rows, in the order given."""
    inbound_of: defaultdict[int, list[InboundMessage]] = defaultdict(list)
    for message in inbound:
        inbound_of[message.conversation_id].append(message)
    cases_of: defaultdict[int | None, list[Case]] = defaultdict(list)
    for case in cases:
        cases_of[case.conversation_id].append(case)
    rows_of: defaultdict[int | None, list[OutboxMessage]] = defaultdict(list)
    for row in rows:
        rows_of[row.conversation_id].append(row)
    return inbound_of, cases_of, rows_of

async def queue_staff_answers(database: Database, keys: Keyring, script: Script) -> None:
    """What the desk does when staff answer: several outbox rows to one citizen in one transaction."""
    async with database.transaction() as session:
        b = backend(session, keys)
        conversation_id = (
            await session.scalars(
                select(Conversation.id).where(
                    Conversation.bot_id == BOT,
                    Conversation.channel == script.channel,
                    Conversation.address_hash == address_hash(b, script.channel, script.address),
                )
            )
        ).one()
        for number in range(1, STAFF_BURST + 1):
            await outbox.enqueue(
                b,
                bot_id=BOT,
                channel=script.channel,
                address=script.address,
                outbound=Outbound(
                    f"工作人员答复（{number}/{STAFF_BURST}）：您反映的第{script.index}号问题已转交。"
                ),
                kind="staff",
                conversation_id=conversation_id,
            )


async def wait_until_sent(database: Database, platforms: Platforms, timeout: float) -> None:
    """Until no outbox row is pending or being sent."""
    deadline = time.monotonic() + timeout
    while True:
        async with database.reading() as session:
            waiting = await session.scalar(
                select(func.count()).where(OutboxMessage.status.in_(["pending", "sending"]))  # type: ignore[attr-defined]
            )
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{waiting} outbox rows still unsent after {timeout:.0f}s")
        await asyncio.sleep(0.5)


def rendered(channel: str, replies: Sequence[Outbound]) -> list[str]:
    """The texts a phone receives for these replies, by the channel's own rules."""
    if channel == "sms":
        return bodies(replies, SmsChannel.capabilities)
    return [
        piece
        for reply in replies
        for piece in api_pieces(render_text(reply, WeChatChannel.capabilities).strip())
    ]


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    outbox_rows: int = 0
    dispatched: int = 0
    retried: int = 0
    by_process: Counter[str] = field(default_factory=Counter)

    def expect(self, condition: bool, problem: str) -> None:
        if not condition and len(self.problems) < 50:
            self.problems.append(problem)


async def check(
    database: Database, keys: Keyring, platforms: Platforms, transcripts: Sequence[Transcript]
) -> Findings:
    found = Findings()
    async with database.reading() as session:
        conversations = list(await session.scalars(select(Conversation).order_by(Conversation.id)))
        inbound = list(await session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        cases = list(await session.scalars(select(Case).order_by(Case.id)))
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    by_address = {(c.channel, keys.decrypt(c.address_enc)): c for c in conversations}
    inbound_of, cases_of, rows_of = by_conversation(inbound, cases, rows)

    found.outbox_rows = len(rows)
    found.expect(len(conversations) == len(transcripts), f"{len(conversations)} conversations")
    expected_messages = sum(len(t.script.messages) for t in transcripts)
    found.expect(len(inbound) == expected_messages, f"{len(inbound)} inbound rows, not {expected_messages}")
    found.expect(len(cases) == len(transcripts), f"{len(cases)} cases for {len(transcripts)} citizens")
    for row in rows:
        found.expect(row.status == "sent", f"outbox {row.id} is {row.status} ({row.error})")
        if not row.inline:
            found.dispatched += 1
            found.retried += row.attempts > 1
    for delivery in platforms.delivered:
        if delivery.channel == "wechat":
            found.by_process[delivery.process] += 1
    found.expect(not platforms.aborted, f"{len(platforms.aborted)} sends aborted")
    found.expect(not platforms.refused, f"the platforms refused: {platforms.refused[:3]}")

    for transcript in transcripts:
        script = transcript.script
        who = f"{script.channel} citizen {script.index}"
        conversation = by_address.get((script.channel, script.address))
        if conversation is None:
            found.expect(False, f"{who}: no conversation")
            continue
        messages = inbound_of[conversation.id]
        found.expect([m.text for m in messages] == script.messages, f"{who}: messages handled out of order")
        theirs = cases_of[conversation.id]
        found.expect(len(theirs) == 1, f"{who}: {len(theirs)} cases")
        if theirs:
            found.expect(theirs[0].description == "\n".join(script.parts), f"{who}: description out of order")
        _check_replies(found, who, script, transcript, messages, rows_of[conversation.id], platforms)
    return found


def _check_replies(
    found: Findings,
    who: str,
    script: Script,
    transcript: Transcript,
    messages: Sequence[InboundMessage],
    rows: Sequence[OutboxMessage],
    platforms: Platforms,
) -> None:
    replies_to: defaultdict[int | None, list[Outbound]] = defaultdict(list)
    for row in rows:
        replies_to[row.inbound_id].append(_outbound(row))
    for message, expected in zip(messages, script.expected(), strict=False):
        texts = rendered(script.channel, replies_to[message.id])
        found.expect(
            len(texts) == 1 and expected(texts[0]), f"{who}: {message.text!r} was answered {texts!r}"
        )
    staff = [row for row in rows if row.kind == "staff"]
    found.expect(len(staff) == STAFF_BURST, f"{who}: {len(staff)} staff rows")

    inline = [row for row in rows if row.inline]
    dispatched = [row for row in rows if not row.inline]
    if script.channel == "sms":
        answered: list[str] = []
        for message in messages:
            answered += rendered(
                "sms", [_outbound(r) for r in inline if r.inbound_id == message.id]
            )
        found.expect(answered == transcript.inline, f"{who}: the TwiML answers differ from the outbox")
    else:
        found.expect(not inline, f"{who}: {len(inline)} WeChat rows went inline")
    owed = [text for r in dispatched for text in rendered(script.channel, [_outbound(r)])]
    got = [d.text for d in platforms.to(script.address)]
    if got != owed:
        extra, missing = Counter(got) - Counter(owed), Counter(owed) - Counter(got)
        why = f"got {sorted(extra.elements())[:2]} too many, {sorted(missing.elements())[:2]} never"
        found.expect(False, f"{who}: the platform's messages are not its rows in order, once each: {why}")
