"""Handoff to a person (转人工): queue the conversation for the desk, then keep out of the way.

While a person has the conversation the bot must not talk over them: citizen messages are only logged
(by the inbox) for staff to read. Three words still reach the bot: 菜单 / 取消 leave the queue and
show the menu, and 人工 again gets a reassurance that they are still in the queue, because silence
after "人工" reads as being ignored.
"""

from __future__ import annotations

from conversations.flows.machine import MENU, Flow, Move, Said, Step, Talk, stay
from conversations.flows.office_hours import next_opening
from conversations.understand import Intent, global_intent
from core import handoff as desk
from core.messages import Outbound

NAME = "handoff"
QUEUED = "queued"
# A citizen leaving the queue is recorded as such in the handoff's audit trail.
CITIZEN_ACTOR = "citizen"


async def _opening_line(talk: Talk, *, queued: bool) -> Outbound:
    calendar = talk.backend.calendar if talk.profile.use_workday_calendar else None
    opening = next_opening(talk.local_now(), talk.profile.office_hours, calendar)
    if queued:
        if opening is None:
            return talk.msg("handoff.queued")
        return talk.msg("handoff.queued_closed", when=talk.moment(opening))
    if opening is None:
        return talk.msg("handoff.still_waiting")
    return talk.msg("handoff.still_waiting_closed", when=talk.moment(opening))


async def escalate(talk: Talk, reason: str) -> list[Outbound]:
    """Open (or rejoin) the desk queue and tell the citizen when a person will answer."""
    department = talk.data.get("department")
    await desk.open_handoff(
        talk.backend,
        bot_id=talk.profile.bot_id,
        conversation=talk.ctx.conversation,
        reason=reason,
        department=department if isinstance(department, str) else None,
    )
    return [await _opening_line(talk, queued=True)]


async def _ask_queued(talk: Talk) -> list[Outbound]:
    return [await _opening_line(talk, queued=False)]


async def _on_queued(talk: Talk, said: Said) -> Move:
    """Only reached while the conversation is in the desk's hands; see `while_queued`."""
    return await while_queued(talk, said)


async def while_queued(talk: Talk, said: Said) -> Move:
    """What the bot does with a message that arrives while a person has the conversation."""
    intent = global_intent(said.text)
    if intent in (Intent.MENU, Intent.CANCEL):
        active = await desk.active_for(talk.backend, talk.ctx.conversation.id or 0)
        if active is not None:
            await desk.close_handoff(
                talk.backend, active.id, staff=CITIZEN_ACTOR, notice=None, source=CITIZEN_ACTOR
            )
        talk.ctx.conversation.mode = "bot"
        return Move(MENU, (talk.msg("handoff.left"),))
    if intent is Intent.HUMAN:
        return stay(await _opening_line(talk, queued=False), ask=False)
    return stay(ask=False)  # a person will read it: no bot reply


FLOW = Flow(
    name=NAME,
    entry=QUEUED,
    steps={QUEUED: Step(ask=_ask_queued, handle=_on_queued, help="handoff.help")},
    graph={QUEUED: frozenset({MENU})},
)
