"""The main menu, and what an idle conversation does with a message.

At idle the bot has asked nothing, so a message is read generously: a word for a service starts it
("查询" → lookup, "我要举报" → a tip, kind already chosen), and a bare grade ("1", "满意", "★★★★★")
answers a pending satisfaction survey. The survey wins over menu numbers because the survey SMS is
the last thing the citizen read, unless the bot showed the menu after the survey was sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from conversations.flows import rate, submit
from conversations.flows.machine import Flow, Move, Said, Step, Talk, forward, go, not_understood, stay
from conversations.understand import Intent, menu_intent, parse_rating
from core import ratings
from core.messages import Choice, Outbound

NAME = "menu"
IDLE = "idle"
CHOOSE = "choose"

# Menu entries in the order shown, with the catalog key of each label.
ENTRIES: dict[str, str] = {
    "submit": "menu.choice.submit",
    "lookup": "menu.choice.lookup",
    "subsidy": "menu.choice.subsidy",
    "rate": "menu.choice.rate",
    "human": "menu.choice.human",
}
_INTENTS: dict[Intent, str] = {
    Intent.SUBMIT: "submit",
    Intent.LOOKUP: "lookup",
    Intent.SUBSIDY: "subsidy",
    Intent.RATE: "rate",
}
_SHOWN_AT = "menu_at"  # when the menu was last shown, to tell a menu number from a survey answer


def choices(talk: Talk) -> tuple[Choice, ...]:
    return tuple(talk.choice(key, label) for key, label in ENTRIES.items())


async def ask_menu(talk: Talk) -> list[Outbound]:
    talk.state[_SHOWN_AT] = talk.now().isoformat()
    return [talk.msg("menu.prompt", choices=choices(talk))]


async def _ask_idle(talk: Talk) -> list[Outbound]:
    return [talk.msg("menu.greeting", name=talk.profile.name), *await ask_menu(talk)]


async def _open_survey(talk: Talk) -> ratings.SurveyView | None:
    contact = talk.ctx.contact
    return await ratings.open_survey(
        talk.backend, bot_id=talk.profile.bot_id, channel=contact.channel, address=contact.address
    )


def _menu_shown_after(talk: Talk, survey: ratings.SurveyView) -> bool:
    shown = talk.state.get(_SHOWN_AT)
    if not isinstance(shown, str):
        return False
    sent = survey.expires_at - timedelta(hours=talk.backend.policy.survey_expiry_hours)
    return datetime.fromisoformat(shown) >= sent


def _menu_shown_since(talk: Talk, moment: datetime) -> bool:
    shown = talk.state.get(_SHOWN_AT)
    return isinstance(shown, str) and datetime.fromisoformat(shown) >= moment


async def _read(talk: Talk, said: Said, *, menu_shown: bool) -> Move:
    grade = parse_rating(said.text) if said.text and not said.pressed else None
    if grade is not None:
        survey = await _open_survey(talk)
        # A typed number that picks from a menu shown after the survey arrived means the menu.
        if survey is not None and not (said.choice in ENTRIES and _menu_shown_after(talk, survey)):
            return forward("rate:survey")
        # Soon after answering a survey, another grade changes that answer (unless it picks from a menu
        # shown since).
        recent = await rate.correctable(talk) if survey is None else None
        picks_menu = recent is not None and _menu_shown_since(talk, recent.answered_at)
        if recent is not None and not (said.choice in ENTRIES and picks_menu):
            return forward("rate:correct")
    target = said.choice if said.choice in ENTRIES else None
    if target is None:
        intent = menu_intent(said.text)
        target = _INTENTS.get(intent) if intent is not None else None
    if target == "submit":
        kind = submit.kind_in(said.text) if not said.choice else None
        if kind is not None:
            return go("submit:description", data={"kind": kind})
        return go("submit")
    if target == "rate":
        return go("rate:survey") if await _open_survey(talk) is not None else go("rate")
    if target in ("lookup", "subsidy"):
        return go(target)
    if grade is not None:
        contact = talk.ctx.contact
        expired = await ratings.latest_expired_survey(
            talk.backend, bot_id=talk.profile.bot_id, channel=contact.channel, address=contact.address
        )
        if expired is not None:
            closed = talk.msg("rate.survey_closed", service=expired.service)
            return stay(closed) if menu_shown else go(CHOOSE, closed)
    if not menu_shown:
        return go(CHOOSE, talk.msg("menu.greeting", name=talk.profile.name))
    return not_understood()


async def _on_idle(talk: Talk, said: Said) -> Move:
    return await _read(talk, said, menu_shown=False)


async def _on_choose(talk: Talk, said: Said) -> Move:
    return await _read(talk, said, menu_shown=True)


_STARTS = frozenset(
    {"submit", "submit:description", "lookup", "subsidy", "rate", "rate:survey", "rate:correct"}
)

FLOW = Flow(
    name=NAME,
    entry=IDLE,
    steps={
        IDLE: Step(ask=_ask_idle, handle=_on_idle, help="menu.help"),
        CHOOSE: Step(ask=ask_menu, handle=_on_choose, help="menu.help"),
    },
    graph={IDLE: _STARTS | {CHOOSE}, CHOOSE: _STARTS},
)
