"""The dialog engine: one step of one conversation, from a stored state and a message to replies.

Flows are explicit state machines whose state is plain JSON-able data stored with the conversation, so
a restart or another process continues any conversation where it stopped. The state looks like
{"flow": "submit", "step": "description", "data": {...}, "lang": "zh_Hans", "unknown": 0,
"offered": ["done"]}: `unknown` counts answers in a row the step could not read, `offered` remembers
the choices last shown, so "2" typed on SMS means the second of them.

What every flow shares lives here rather than in each flow: global words (菜单, 取消, 帮助, 人工, language
names) are read before the step sees the message; unknown answers are re-asked and, the second time,
人工 is offered; replies are merged and cut to fit the channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from conversations import texts
from conversations.flows import FLOWS, handoff, menu, words
from conversations.flows.language import guess_language
from conversations.flows.machine import (
    HANDOFF,
    IDLE,
    MENU,
    Flow,
    IllegalTransition,
    Move,
    Said,
    Talk,
    split_target,
)
from conversations.flows.replies import merge, offered_keys, shape, with_choice
from conversations.understand import Intent, global_intent, parse_number
from core.backend import Backend
from core.cases import Contact
from core.messages import Capabilities, Inbound, Outbound
from storage.models import Conversation


@dataclass(frozen=True)
class OfficeHours:
    """When a person answers handoffs, in the deployment's time zone: weekday numbers (Mon=0) and hours."""

    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    opens: str = "08:30"
    closes: str = "17:30"


@dataclass(frozen=True)
class BotProfile:
    """What flows need to know of the deployment they speak for."""

    bot_id: str
    name: str = "阳光政务"
    default_language: str = "zh_Hans"
    departments: tuple[str, ...] = ()
    office_hours: OfficeHours = field(default_factory=OfficeHours)
    use_workday_calendar: bool = True  # office hours also skip public holidays
    subsidy_otp: bool = False  # show subsidy amounts only after a code sent by SMS to the record's phone


@dataclass
class StepContext:
    """Everything one step may use: the backend bound to this message's transaction and who is talking."""

    backend: Backend
    profile: BotProfile
    capabilities: Capabilities
    conversation: Conversation
    contact: Contact  # channel, address and conversation id of the citizen, for notices and handoffs
    sender_key: str  # keyed hash identifying the sender, for per-sender throttles


@dataclass
class Turn:
    """What a step decided: the replies to send and the state to store."""

    replies: list[Outbound]
    state: dict[str, Any]
    language: str


# ---------------------------------------------------------------- the step


class _State:
    """The stored state, read defensively: a state written by an older version, or damaged, falls back to
    the idle menu instead of failing every message of that citizen."""

    def __init__(
        self, stored: dict[str, Any], conversation_language: str | None, default_language: str
    ) -> None:
        flow = stored.get("flow")
        step_name = stored.get("step")
        known = flow in FLOWS and step_name in FLOWS[flow].steps
        self.values: dict[str, Any] = dict(stored) if known else {}
        self.values["flow"] = flow if known else menu.NAME
        self.values["step"] = step_name if known else menu.IDLE
        data = stored.get("data") if known else None
        self.values["data"] = data if isinstance(data, dict) else {}
        lang = stored.get("lang") or conversation_language or default_language
        self.values["lang"] = lang if lang in texts.LANGUAGES else texts.SOURCE_LANGUAGE
        unknown = stored.get("unknown")
        self.values["unknown"] = unknown if isinstance(unknown, int) and known else 0
        offered = stored.get("offered")
        self.values["offered"] = (
            [k for k in offered if isinstance(k, str)] if isinstance(offered, list) else []
        )

    @property
    def flow(self) -> Flow:
        return FLOWS[self.values["flow"]]

    @property
    def step_name(self) -> str:
        return str(self.values["step"])

    def enter(self, flow: str, step_name: str, data: dict[str, Any] | None = None) -> None:
        self.values["flow"] = flow
        self.values["step"] = step_name
        self.values["data"] = data if data is not None else {}
        self.values["unknown"] = 0


HUMAN_CHOICE = "human"
ABANDONED_AFTER = timedelta(hours=24)  # an unfinished flow older than this is dropped, not continued
OFFER_HUMAN_AFTER = 2  # unknown answers in a row at one step before 人工 is offered with the question
_MAX_FORWARDS = 3  # a message handed from step to step more often than this is a bug in a flow
_LANGUAGE_INTENTS = {Intent.LANG_ZH_HANS: "zh_Hans", Intent.LANG_ZH_HANT: "zh_Hant", Intent.LANG_EN: "en"}


async def step(state: dict[str, Any], inbound: Inbound, ctx: StepContext) -> Turn:
    """Take one message through the conversation: global words first, then the current step's own reading.

    Runs inside the pipeline's transaction; whatever a flow did through `core` commits together with the
    returned state and replies, or not at all.
    """
    st = _State(state, ctx.conversation.language, ctx.profile.default_language)
    talk = Talk(ctx, st.values["lang"], st.values["data"], st.values)
    said = _said(inbound, st.values["offered"])

    notes: list[Outbound] = []
    now = ctx.backend.clock.now()
    if ctx.conversation.mode != "handoff" and _abandoned(st, now):
        # Half an errand left for a day: its "查询" tomorrow is a new request, not more description.
        st.enter(menu.NAME, menu.IDLE)
        talk.data = st.values["data"]
        notes.append(talk.msg("common.expired"))
    st.values["at"] = now.isoformat()

    chosen = texts.language_of(inbound.language)
    if chosen is None and not state and ctx.conversation.language is None:
        chosen = guess_language(inbound.text)
    switched = chosen is not None and chosen != talk.lang
    if chosen is not None:
        _set_language(st, talk, chosen)

    if ctx.conversation.mode == "handoff":
        if st.values["flow"] != handoff.NAME:
            st.enter(handoff.NAME, handoff.QUEUED)
            talk.data = st.values["data"]
        replies = await _apply(await handoff.while_queued(talk, said), st, talk, said)
    else:
        if st.values["flow"] == handoff.NAME:  # staff closed the handoff: the bot has the conversation again
            st.enter(menu.NAME, menu.IDLE)
            talk.data = st.values["data"]
        if switched and not said.text and not said.attachments and said.choice is None:
            replies = [talk.msg("lang.switched"), *await st.flow.steps[st.step_name].ask(talk)]
        else:
            replies = await _dispatch(st, talk, said)

    replies = [*notes, *replies] if replies else replies
    if replies:
        st.values["offered"] = offered_keys(merge(replies))
    return Turn(replies=shape(replies, ctx.capabilities), state=st.values, language=talk.lang)


def _abandoned(st: _State, now: datetime) -> bool:
    """A flow left unfinished for longer than ABANDONED_AFTER (the menu and idle never go stale)."""
    if st.values["flow"] == menu.NAME:
        return False
    last = st.values.get("at")
    try:
        return isinstance(last, str) and now - datetime.fromisoformat(last) > ABANDONED_AFTER
    except ValueError:
        return True


def _said(inbound: Inbound, offered: list[str]) -> Said:
    text = inbound.text.strip()
    if inbound.choice is not None and inbound.choice in offered:
        return Said(text=text, choice=inbound.choice, attachments=inbound.attachments, pressed=True)
    # A button from an older question (or a platform menu) answers nothing now: read its words instead.
    choice: str | None = None
    if offered and text:
        position = parse_number(text)
        if position is not None and 1 <= position <= len(offered):
            choice = offered[position - 1]
    return Said(text=text, choice=choice, attachments=inbound.attachments)


def _set_language(st: _State, talk: Talk, language: str) -> None:
    st.values["lang"] = language
    talk.lang = language


async def _dispatch(st: _State, talk: Talk, said: Said) -> list[Outbound]:
    current = st.flow.steps[st.step_name]
    claimed = current.claims is not None and words.is_exactly(said.text, current.claims)
    intent = None if said.pressed or claimed else global_intent(said.text)
    if intent in _LANGUAGE_INTENTS:
        _set_language(st, talk, _LANGUAGE_INTENTS[intent])
        return [talk.msg("lang.switched"), *await current.ask(talk)]
    if intent is Intent.MENU:
        return await _apply(Move(MENU), st, talk, said, fallback=True)
    if intent is Intent.CANCEL:
        busy = st.values["flow"] != menu.NAME
        say = (talk.msg(current.cancelled),) if busy else ()
        return await _apply(Move(MENU, say), st, talk, said, fallback=True)
    if intent is Intent.HELP:
        return [talk.msg(current.help), *await current.ask(talk)]
    if intent is Intent.HUMAN or said.choice == HUMAN_CHOICE:
        stuck = intent is not Intent.HUMAN and st.values["unknown"] >= OFFER_HUMAN_AFTER
        move = Move(HANDOFF, reason="not_understood" if stuck else "asked")
        return await _apply(move, st, talk, said, fallback=True)
    return await _apply(await current.handle(talk, said), st, talk, said)


async def _apply(
    move: Move, st: _State, talk: Talk, said: Said, *, fallback: bool = False, depth: int = 0
) -> list[Outbound]:
    """Carry out a step's decision, refusing any transition its flow's graph does not list.

    `fallback` marks the global words' moves (menu, cancel, human), which every step allows.
    """
    flow, origin = st.flow, st.step_name
    if move.to is None:
        st.values["unknown"] = st.values["unknown"] + 1 if move.unknown else 0
        replies = list(move.say)
        if move.unknown and not move.say:
            replies.append(talk.msg("common.not_understood"))
        if move.ask:
            replies.extend(await flow.steps[origin].ask(talk))
        if move.unknown and st.values["unknown"] >= OFFER_HUMAN_AFTER:
            replies = with_choice(replies, talk.choice(HUMAN_CHOICE, "common.choice.human"))
        return replies

    target = move.to
    if not fallback and not flow.allows(origin, target):
        raise IllegalTransition(f"{flow.name}.{origin} may not go to {target!r}")
    say = list(move.say)
    if target == IDLE:
        st.enter(menu.NAME, menu.IDLE)
        talk.data = st.values["data"]
        return [*say, talk.msg("common.what_next")]
    if target == MENU:
        st.enter(menu.NAME, menu.CHOOSE)
        talk.data = st.values["data"]
        return [*say, *await menu.ask_menu(talk)]
    if target == HANDOFF:
        replies = await handoff.escalate(talk, move.reason)
        st.enter(handoff.NAME, handoff.QUEUED)
        talk.data = st.values["data"]
        return [*say, *replies]
    if target in flow.steps:
        st.values["step"] = target
        st.values["unknown"] = 0
        if move.data is not None:
            talk.data.update(move.data)
    else:
        flow_name, step_name = split_target(target)
        st.enter(flow_name, step_name or FLOWS[flow_name].entry, dict(move.data or {}))
        talk.data = st.values["data"]
    arrived = st.flow.steps[st.step_name]
    if move.forward:
        if depth >= _MAX_FORWARDS:
            raise IllegalTransition(
                f"message forwarded more than {_MAX_FORWARDS} times from {flow.name}.{origin}"
            )
        following = await arrived.handle(talk, said)
        return [*say, *await _apply(following, st, talk, said, depth=depth + 1)]
    return [*say, *(await arrived.ask(talk) if move.ask else [])]
