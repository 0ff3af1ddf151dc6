"""The pieces every flow is made of: named steps, a transition graph as data, and the moves a step returns.

A flow is a table, not a tangle of ifs: `Flow.graph` lists, per step, where that step may go next.
The engine refuses any move the graph does not list, and a test walks every graph, so a step that
cannot be reached, or a conversation that can get stuck, is a test failure rather than a citizen's
dead end. Staying at the same step (re-asking) is always allowed and is not a transition; neither are
the global words (menu, cancel, human), which the engine handles before any step sees the message.

Targets in a graph are:
- a step of the same flow, e.g. "description";
- "@idle": the flow is finished, the conversation rests (the engine adds a "what next" hint);
- "@menu": the flow is finished and the main menu is shown;
- "@handoff": the conversation goes to a person;
- "<flow>" or "<flow>:<step>": another flow, at its entry or at a named step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from conversations import texts
from core.backend import Backend
from core.messages import Attachment, Choice, Outbound

if TYPE_CHECKING:
    from conversations.engine import BotProfile, StepContext

IDLE = "@idle"
MENU = "@menu"
HANDOFF = "@handoff"
ENDS = frozenset({IDLE, MENU, HANDOFF})


class IllegalTransition(RuntimeError):
    """A step tried a move its flow's graph does not list: a bug in the flow, never the citizen's fault."""


@dataclass(frozen=True)
class Said:
    """The citizen's message as a step sees it."""

    text: str  # as typed, edges trimmed; parse it with conversations.understand, never by hand
    choice: str | None  # key of an offered choice, picked by button or by its number in the list
    attachments: tuple[Attachment, ...] = ()
    pressed: bool = False  # the choice came from a button, not from typing its number


@dataclass(frozen=True)
class Move:
    """What a step decided. `to=None` stays at the step."""

    to: str | None = None
    say: tuple[Outbound, ...] = ()
    unknown: bool = False  # stayed because the answer was not understood: counts toward offering 人工
    ask: bool = True  # follow `say` with the question of the step we end up at
    forward: bool = False  # the target step handles this same message instead of asking its question
    data: Mapping[str, Any] | None = None  # initial data when entering another flow
    reason: str = "asked"  # why, when `to` is @handoff


def stay(*say: Outbound, unknown: bool = False, ask: bool = True) -> Move:
    return Move(None, say, unknown=unknown, ask=ask)


def not_understood(*say: Outbound) -> Move:
    return Move(None, say, unknown=True)


def go(to: str, *say: Outbound, data: Mapping[str, Any] | None = None, ask: bool = True) -> Move:
    return Move(to, say, data=data, ask=ask)


def forward(to: str, data: Mapping[str, Any] | None = None) -> Move:
    return Move(to, (), forward=True, data=data)


AskFn = Callable[["Talk"], Awaitable[list[Outbound]]]
HandleFn = Callable[["Talk", Said], Awaitable[Move]]


@dataclass(frozen=True)
class Step:
    """One named step: how it asks, how it reads the answer, and the key of its help text."""

    ask: AskFn
    handle: HandleFn
    help: str
    cancelled: str = "common.cancelled"  # what "取消" says here: most steps drop what was typed, a few cannot
    # Catalog key of words this step reads itself even where they are global words: "结束" after a
    # description means "I have finished telling", not "cancel everything I told".
    claims: str | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    entry: str
    steps: Mapping[str, Step]
    graph: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        if set(self.steps) != set(self.graph):
            raise ValueError(f"flow {self.name}: steps and graph name different steps")
        if self.entry not in self.steps:
            raise ValueError(f"flow {self.name}: entry {self.entry!r} is not a step")

    def allows(self, origin: str, target: str) -> bool:
        return target in self.graph.get(origin, frozenset())


def split_target(target: str) -> tuple[str, str | None]:
    """ "rate:survey" → ("rate", "survey"); "lookup" → ("lookup", None)."""
    flow, _, step = target.partition(":")
    return flow, (step or None)


@dataclass
class Talk:
    """One turn's working space for a step: who is talking, in which language, and the flow's data.

    `data` is the flow's own part of the stored state and must stay JSON-able; anything a citizen would
    not want lying around in clear (ID numbers, a reporter's name and phone) goes in encrypted.
    """

    ctx: StepContext
    lang: str
    data: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # the whole stored state, read-only for steps

    @property
    def backend(self) -> Backend:
        return self.ctx.backend

    @property
    def profile(self) -> BotProfile:
        return self.ctx.profile

    @property
    def concise(self) -> bool:
        return self.ctx.capabilities.concise

    def now(self) -> datetime:
        return self.backend.clock.now()

    def local_now(self) -> datetime:
        return self.now().astimezone(self.backend.zone)

    def text(self, key: str, **fields: Any) -> str:
        return texts.text(self.lang, key, concise=self.concise, **fields)

    def msg(self, key: str, *, choices: tuple[Choice, ...] = (), **fields: Any) -> Outbound:
        return Outbound(self.text(key, **fields), choices)

    def choice(self, key: str, label_key: str, **fields: Any) -> Choice:
        return Choice(key, self.text(label_key, **fields))

    def day(self, value: Any) -> str:
        return texts.format_day(self.lang, value)

    def moment(self, value: datetime) -> str:
        return texts.format_moment(self.lang, value.astimezone(self.backend.zone))

    def time(self, value: datetime) -> str:
        return texts.format_time(self.lang, value.astimezone(self.backend.zone))

    def money(self, amount: Decimal) -> str:
        return texts.format_money(self.lang, amount)
