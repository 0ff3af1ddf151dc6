"""Runs a conversation transcript (tests/transcripts/*.txt) through the real pipeline and compares replies.

The format, one instruction per line:

    # a comment                       blank lines are ignored too
    @channel webchat|sms|telegram|wechat   the channel the citizen writes on (its capabilities shape replies)
    @as ADDRESS                       who writes (default: one address per channel)
    @advance 61m | 2h | 3d | 30s      move the fixed clock
    @at 2026-03-07 20:00              set the clock (Beijing time)
    @lang en                          the next message carries this language (web chat's switch)
    @attach image URL | @attach location LAT LON LABEL | @attach voice TRANSCRIPT
                                      attached to the next message
    @press LABEL                      press the button labelled LABEL in the last reply (then `<` lines)
    @survey service=... department=... [window=...] [staff=...]   a satisfaction survey sent to ADDRESS
    @subsidy id=... name=... programme=... year=... standard=... amount=... [paid=YYYY-MM-DD]
             method=... status=... [account=...] [department=...] [phone=...]   one imported subsidy payment
    @staff accept|start CASE | assign CASE DEPARTMENT | reply CASE TEXT | decline CASE TEXT | close CASE
           | split CASE                undo the link of a case merged into another
    @bot subsidy_otp=true             change a setting of the bot's profile from here on
    @sms-code NAME                    remember the code of the latest one-time-code SMS as NAME
    @desk close                       staff close this conversation's handoff
    > TEXT                            the citizen sends TEXT (a lone `>` sends an empty message)
    < TEXT                            a line of the bot's reply (a lone `<` is an empty line)
    <---                              separates two reply messages of the same turn

Every `>` must be followed by exactly the `<` lines of the replies; none means the bot stays silent.
Replies are rendered as the citizen sees them (`core.messages.render_text`); on a channel with buttons
the buttons follow as one line `[label] [label]`.

Values: in a `<` line, `{number:NAME}` matches digits (dashes allowed) and `{text:NAME}` any text, and
remembers it; `{*}` matches anything. Later, `{NAME}` in a `<` or `>` line stands for the value;
in `>` lines `{NAME:digits}` drops the dashes, `{NAME:fullwidth}` types it in full-width digits, and
`{repeat:N:TEXT}` repeats TEXT N times. `{{` and `}}` are literal braces. Setup values (`@subsidy`,
`@staff`) may use `{NAME}` too.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from difflib import unified_diff
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bots.pipeline import Pipeline, Services
from core import cases, handoff, ratings, subsidies
from core.clock import FixedClock
from core.inbox import address_hash
from core.messages import Attachment, Capabilities, Choice, Inbound, Outbound, render_text
from storage.models import Conversation, OutboxMessage

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "transcripts"
BEIJING = ZoneInfo("Asia/Shanghai")

CHANNELS: dict[str, Capabilities] = {
    "webchat": Capabilities(max_length=4096, buttons=False),
    "wechat": Capabilities(max_length=2048, buttons=False),
    "telegram": Capabilities(max_length=4096, buttons=True),
    "sms": Capabilities(max_length=335, buttons=False, concise=True),  # five 67-character UCS-2 parts
}
DEFAULT_ADDRESSES = {
    "webchat": "web-visitor-1",
    "wechat": "oWx-citizen-1",
    "telegram": "100200300",
    "sms": "+8613800138000",
}
SEPARATOR = "<---"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_FULLWIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
_BOOLEANS = {"true": True, "false": False}
_CAPTURE_PATTERNS = {"number": r"[0-9](?:[0-9-]*[0-9])?", "text": r".+?"}


class TranscriptError(AssertionError):
    """The bot's replies differ from the transcript, or the transcript itself is malformed."""


@dataclass
class Send:
    line: int
    text: str
    press: str | None = None  # a button label to press instead of typing
    expected: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Directive:
    line: int
    name: str
    args: str


def parse(path: Path) -> list[Send | Directive]:
    events: list[Send | Directive] = []
    current: Send | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("<"):
            if current is None:
                raise TranscriptError(f"{path.name}:{number}: a reply line with no message before it")
            current.expected.append((number, line))
            continue
        if line.startswith(">"):
            current = Send(number, line[2:] if line.startswith("> ") else line[1:])
            events.append(current)
            continue
        if line.startswith("@"):
            name, _, args = line[1:].partition(" ")
            if name == "press":
                current = Send(number, "", press=args.strip())
                events.append(current)
            else:
                current = None
                events.append(Directive(number, name, args.strip()))
            continue
        raise TranscriptError(f"{path.name}:{number}: cannot read {line!r}")
    return events


@dataclass
class Run:
    """What a transcript left behind, for tests that check the database afterwards."""

    values: dict[str, str]
    channel: str
    address: str


class TranscriptRunner:
    def __init__(self, services: Services, clock: FixedClock, *, bot_id: str) -> None:
        self.services = services
        self.pipeline = Pipeline(services)
        self.clock = clock
        self.bot_id = bot_id
        self.values: dict[str, str] = {}
        self.channel = "webchat"
        self.address = DEFAULT_ADDRESSES["webchat"]
        self._address_set = False
        self._language: str | None = None
        self._attachments: list[Attachment] = []
        self._last_choices: tuple[Choice, ...] = ()
        self._ids = itertools.count(1)

    async def run(self, path: Path) -> Run:
        self.path = path
        for event in parse(path):
            if isinstance(event, Send):
                await self._send(event)
            else:
                await self._directive(event)
        return Run(dict(self.values), self.channel, self.address)

    # ---------------------------------------------------------------- messages

    async def _send(self, send: Send) -> None:
        choice: str | None = None
        text = self._fill(send.text, send.line, typed=True)
        if send.press is not None:
            label = self._fill(send.press, send.line)
            found = [c for c in self._last_choices if c.label == label]
            if not found:
                labels = ", ".join(c.label for c in self._last_choices) or "none"
                raise TranscriptError(f"{self._where(send.line)}: no button {label!r} (offered: {labels})")
            choice = found[0].key
        inbound = Inbound(
            channel=self.channel,
            bot_id=self.bot_id,
            sender=self.address,
            message_id=f"transcript-{next(self._ids)}",
            text=text,
            attachments=tuple(self._attachments),
            received_at=self.clock.now(),
            language=self._language,
            choice=choice,
        )
        self._attachments, self._language = [], None
        capabilities = CHANNELS[self.channel]
        replies = await self.pipeline.handle(inbound, capabilities, inline=True)
        self.clock.advance(seconds=1)
        for reply in replies:
            if reply.choices:
                self._last_choices = reply.choices
        self._compare(send, replies)

    def _render(self, reply: Outbound, capabilities: Capabilities) -> list[str]:
        lines = render_text(reply, capabilities).split("\n")
        if capabilities.buttons and reply.choices:
            lines.append(" ".join(f"[{choice.label}]" for choice in reply.choices))
        return lines

    def _compare(self, send: Send, replies: list[Outbound]) -> None:
        actual: list[str] = []
        for index, reply in enumerate(replies):
            if index:
                actual.append(SEPARATOR)
            actual.extend(self._render(reply, CHANNELS[self.channel]))
        expected = [(number, _expected_text(line)) for number, line in send.expected]
        captured: dict[str, str] = {}
        shown: list[str] = []  # expected lines as the diff shows them: matched ones as what they matched
        ok = len(actual) == len(expected)
        for index, (number, pattern) in enumerate(expected):
            line = actual[index] if index < len(actual) else None
            found = self._match(pattern, line, number, captured) if line is not None else None
            if found is None:
                ok = False
                shown.append(self._readable(pattern, captured))
            else:
                captured.update(found)
                shown.append(line or "")
        if not ok:
            diff = "\n".join(unified_diff(shown, actual, fromfile="transcript", tofile="bot", lineterm=""))
            said = f"[{send.press}]" if send.press is not None else send.text
            raise TranscriptError(f"{self._where(send.line)}: replies to {said[:80]!r} differ\n{diff}")
        self.values.update(captured)

    def _readable(self, pattern: str, captured: dict[str, str]) -> str:
        """A pattern with the values known so far filled in, for the failure message."""
        values = {**self.values, **captured}
        return re.sub(r"\{(\w+)\}", lambda token: values.get(token.group(1), token.group(0)), pattern)

    def _match(self, pattern: str, line: str, number: int, captured: dict[str, str]) -> dict[str, str] | None:
        regex: list[str] = []
        names: list[str] = []
        position = 0
        for token in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}", pattern):
            regex.append(re.escape(pattern[position : token.start()]))
            position = token.end()
            whole = token.group(0)
            if whole in ("{{", "}}"):
                regex.append(re.escape(whole[0]))
                continue
            inner = token.group(1)
            if inner == "*":
                regex.append(".*")
            elif ":" in inner:
                kind, _, name = inner.partition(":")
                if kind not in _CAPTURE_PATTERNS or not name.isidentifier():
                    raise TranscriptError(f"{self._where(number)}: unknown capture {whole}")
                regex.append(f"(?P<{name}>{_CAPTURE_PATTERNS[kind]})")
                names.append(name)
            else:
                regex.append(re.escape(self._value(inner, number, captured)))
        regex.append(re.escape(pattern[position:]))
        found = re.fullmatch("".join(regex), line)
        if found is None:
            return None
        return {name: found.group(name) for name in names}

    def _value(self, name: str, number: int, extra: dict[str, str] | None = None) -> str:
        values = {**self.values, **(extra or {})}
        if name not in values:
            raise TranscriptError(f"{self._where(number)}: no value named {name!r} captured before")
        return values[name]

    def _fill(self, text: str, number: int, *, typed: bool = False) -> str:
        def replace(token: re.Match[str]) -> str:
            whole = token.group(0)
            if whole in ("{{", "}}"):
                return whole[0]
            parts = token.group(1).split(":")
            if typed and parts[0] == "repeat" and len(parts) >= 3:
                return ":".join(parts[2:]) * int(parts[1])
            value = self._value(parts[0], number)
            for conversion in parts[1:]:
                if conversion == "digits":
                    value = "".join(ch for ch in value if ch.isdigit())
                elif conversion == "fullwidth":
                    value = value.translate(_FULLWIDTH)
                else:
                    raise TranscriptError(f"{self._where(number)}: unknown conversion {conversion!r}")
            return value

        return re.sub(r"\{\{|\}\}|\{([^{}]*)\}", replace, text)

    def _where(self, number: int) -> str:
        return f"{self.path.name}:{number}"

    # ---------------------------------------------------------------- setup and staff

    async def _directive(self, directive: Directive) -> None:
        name, args, line = directive.name, self._fill(directive.args, directive.line), directive.line
        if name == "channel":
            if args not in CHANNELS:
                raise TranscriptError(f"{self._where(line)}: unknown channel {args!r}")
            self.channel = args
            if not self._address_set:
                self.address = DEFAULT_ADDRESSES[args]
        elif name == "as":
            self.address, self._address_set = args, True
        elif name == "advance":
            for amount, unit in _DURATION.findall(args):
                self.clock.advance(**{_UNITS[unit]: int(amount)})
        elif name == "at":
            self.clock.set(datetime.fromisoformat(args).replace(tzinfo=BEIJING))
        elif name == "lang":
            self._language = args
        elif name == "attach":
            self._attachments.append(_attachment(args))
        elif name == "survey":
            await self._survey(_fields(args))
        elif name == "subsidy":
            await self._subsidy(_fields(args))
        elif name == "staff":
            await self._staff(args)
        elif name == "desk":
            await self._desk(args, line)
        elif name == "bot":
            self._bot(_fields(args))
        elif name == "sms-code":
            await self._sms_code(args, line)
        else:
            raise TranscriptError(f"{self._where(line)}: unknown instruction @{name}")

    async def _survey(self, values: dict[str, str]) -> None:
        async with self.services.database.transaction() as session:
            b = self.services.backend(session)
            await ratings.create_survey(
                b,
                bot_id=self.bot_id,
                channel=self.channel,
                address=self.address,
                service=values["service"],
                department=values["department"],
                window=values.get("window"),
                staff_name=values.get("staff"),
            )

    async def _subsidy(self, values: dict[str, str]) -> None:
        async with self.services.database.transaction() as session:
            b = self.services.backend(session)
            await subsidies.add_record(
                b,
                id_number=values["id"],
                name=values["name"],
                programme=values["programme"],
                year=int(values["year"]),
                standard=values["standard"],
                amount=Decimal(values["amount"]),
                paid_on=date.fromisoformat(values["paid"]) if values.get("paid") else None,
                method=values["method"],
                status=values["status"],
                account=values.get("account"),
                department=values.get("department"),
                phone=values.get("phone"),
            )

    async def _staff(self, args: str) -> None:
        action, number, *rest = shlex.split(args)
        text = " ".join(rest)
        async with self.services.database.transaction() as session:
            b = self.services.backend(session)
            case = await cases.get_by_number(b, number)
            if case is None or case.id is None:
                raise TranscriptError(f"{self.path.name}: no case {number}")
            actor = "staff:transcript"
            if action == "accept":
                await cases.accept(b, case.id, actor)
            elif action == "assign":
                await cases.assign(b, case.id, actor, text)
            elif action == "start":
                await cases.start(b, case.id, actor)
            elif action == "reply":
                await cases.reply(b, case.id, actor, text)
            elif action == "decline":
                await cases.decline(b, case.id, actor, text)
            elif action == "close":
                await cases.close(b, case.id, actor)
            elif action == "split":
                await cases.split(b, case.id, actor=actor)
            else:
                raise TranscriptError(f"{self.path.name}: unknown staff action {action!r}")

    def _bot(self, values: dict[str, str]) -> None:
        profiles = dict(self.services.profiles)
        changes = {key: _BOOLEANS.get(value.lower(), value) for key, value in values.items()}
        profiles[self.bot_id] = replace(profiles[self.bot_id], **changes)
        self.services.profiles = profiles

    async def _sms_code(self, name: str, line: int) -> None:
        async with self.services.database.reading() as session:
            row = await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "otp")
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            )
        found = re.search(r"\d{6}", row.payload.get("text", "")) if row is not None else None
        if found is None:
            raise TranscriptError(f"{self._where(line)}: no one-time code was sent")
        self.values[name] = found.group(0)

    async def _desk(self, args: str, line: int) -> None:
        if args != "close":
            raise TranscriptError(f"{self._where(line)}: unknown desk action {args!r}")
        async with self.services.database.transaction() as session:
            b = self.services.backend(session)
            conversation_id = await session.scalar(
                select(Conversation.id).where(
                    Conversation.bot_id == self.bot_id,
                    Conversation.channel == self.channel,
                    Conversation.address_hash == address_hash(b, self.channel, self.address),
                )
            )
            active = await handoff.active_for(b, conversation_id or 0)
            if active is None:
                raise TranscriptError(f"{self._where(line)}: this conversation has no open handoff")
            await handoff.close_handoff(b, active.id, staff="transcript", notice=None)


def _expected_text(line: str) -> str:
    if line == SEPARATOR:
        return SEPARATOR
    return line[2:] if line.startswith("< ") else line[1:]


def _fields(args: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in shlex.split(args):
        key, sep, value = item.partition("=")
        if not sep:
            raise TranscriptError(f"expected key=value, got {item!r}")
        values[key] = value
    return values


def _attachment(args: str) -> Attachment:
    kind, _, rest = args.partition(" ")
    if kind == "image":
        return Attachment("image", url=rest or "https://example.invalid/photo.jpg")
    if kind == "voice":
        return Attachment("voice", url="https://example.invalid/voice.amr", transcript=rest or None)
    if kind == "location":
        latitude, longitude, *label = rest.split()
        return Attachment(
            "location", latitude=float(latitude), longitude=float(longitude), label=" ".join(label) or None
        )
    raise TranscriptError(f"unknown attachment {kind!r}")
