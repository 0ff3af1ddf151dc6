"""The crash drill (issue 8): webhook load while `sunshine serve` and `sunshine worker` are SIGKILLed.

    python -m tests.drills.crash --kills 100 --database sqlite|postgresql

One web process and one worker on one database, the default deployment, started from one TOML file
by the multi-process harness in `tests/scale`. Citizens on SMS (Twilio's signed form) and on WeChat
(signed XML) walk real complaints to their submission, one message at a time. A killer SIGKILLs the
web process or the worker at random moments once it is serving, and starts it again at once. A
request that fails or gets no 2xx is sent again with the same MessageSid / MsgId, as the platforms
retry; what got a 2xx is recorded. After the last kill the citizens finish, the outbox drains, and
the database and the fake platforms are held against what was acknowledged:

- every message that got a 2xx has its inbound row (for SQLite this is the durability check);
- every citizen has exactly one case, its description their words in order, every answer right;
- every outbox row is sent, and what the platforms delivered is those rows: a row delivered twice
  is a duplicate, possible by design when a process dies after the platform accepted a send and
  before the row was marked sent (neither Twilio's Messages API nor WeChat's customer-service API
  takes an idempotency key); each must belong to a row that was claimed again after a kill.

The summary is printed; the exit status is 1 when anything but such a duplicate is found. A message
still without a 2xx after three minutes is counted and its citizen stops: that measures availability
(restart time against the kill rate), not loss, since the platform was never told it arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import aiohttp
import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.exc import NoResultFound
from twilio.request_validator import RequestValidator

from core import inbox, outbox
from core.crypto import Keyring
from core.messages import Outbound
from storage.database import Database
from storage.models import Case, Conversation, InboundMessage, OutboxMessage
from tests.channels.wechat.wire import TOKEN, fields_of, message_xml, sign
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN
from tests.postgres import ADMIN_URL
from tests.scale.cluster import BOT, PUBLIC, SMS_NUMBER, Cluster, Process, wechat_secret
from tests.scale.phones import Script
from tests.scale.platforms import Platforms
from tests.scale.verify import by_conversation, keyring, queue_staff_answers, rendered, wait_until_sent

_CHARS = "山水田林湖草村路桥河沟塘坝渠井泉溪岭坡岗松柏竹梅兰菊桃李杏枣"  # spells no command or keyword
_SMS_PATH = f"/webhooks/sms/{BOT}"
_WECHAT_PATH = f"/webhooks/wechat/{BOT}"
_ROLES = ("serve", "worker")
_STARTUP_SECONDS = 300.0
_GIVE_UP_SECONDS = 180.0  # a message still unacknowledged after this is a finding, not a wait
_SENT = frozenset({"sent", "delivered"})
_Post = Callable[[], Awaitable[tuple[int, list[str] | None]]]  # one webhook request: status, answer


@dataclass(frozen=True)
class Options:
    kills: int = 100
    database: str = "sqlite"  # or "postgresql"
    seed: int = 8
    citizens: int = 12  # talking at the same time; each new one starts when another is done
    parts: int = 2  # complaint messages between "投诉" and "完成"
    lease: float = 10.0  # outbox_lease_seconds: how long a dead worker's claim holds its rows
    gap: tuple[float, float] = (0.2, 2.0)  # seconds between a process being ready and its kill
    think: tuple[float, float] = (0.05, 0.3)  # a citizen's pause between messages
    progress: bool = True
    minutes: float | None = None  # stop killing after this long even if fewer kills were made


@dataclass
class Report:
    database: str
    kills: Counter[str] = field(default_factory=Counter)
    kills_mid_request: int = 0  # web process killed with webhook requests in flight
    kills_with_claims: int = 0  # killed while outbox rows were claimed and not yet marked
    citizens: int = 0
    messages: int = 0
    requests: int = 0
    failed_requests: int = 0
    acknowledged: int = 0
    gave_up: list[str] = field(default_factory=list)  # no 2xx within _GIVE_UP_SECONDS: the sender stopped
    ack_seconds: list[float] = field(default_factory=list)  # first attempt to 2xx, per message
    inbound_rows: int = 0
    missing: int = 0  # acknowledged, yet no inbound row
    doubled_inbound: int = 0
    cases: int = 0
    doubled_cases: int = 0
    outbox_rows: int = 0
    inline: int = 0
    sent: int = 0
    unsent: int = 0
    claimed_again: int = 0  # dispatched rows claimed more than once (their holder died)
    aborted_sends: int = 0  # sends cut off at the platform by a kill
    delivered: int = 0
    duplicates: int = 0
    unexplained_duplicates: int = 0  # a duplicate of a row nobody claimed twice: a real bug
    lost: int = 0  # rows marked sent that no platform delivered
    startup_seconds: list[float] = field(default_factory=list)
    failed_statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer at all
    pragmas: dict[str, str] = field(default_factory=dict)
    log_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def problem(self, line: str) -> None:
        if len(self.problems) < 40:
            self.problems.append(line)

    @property
    def passed(self) -> bool:
        return not (
            self.missing
            or self.doubled_inbound
            or self.doubled_cases
            or self.unsent
            or self.lost
            or self.unexplained_duplicates
            or self.problems
        )

    def summary(self) -> str:
        acks = sorted(self.ack_seconds) or [0.0]
        starts = sorted(self.startup_seconds) or [0.0]
        lines = [
            f"crash drill on {self.database}: {sum(self.kills.values())} kills "
            f"(serve {self.kills['serve']}, worker {self.kills['worker']}) in {self.seconds:.0f}s",
            f"  serve kills with webhook requests in flight: {self.kills_mid_request}; "
            f"kills with outbox rows claimed: {self.kills_with_claims}",
            f"  citizens {self.citizens}, messages sent {self.messages}, 2xx received {self.acknowledged}; "
            f"requests {self.requests}, failed or not 2xx {self.failed_requests}",
            f"  failed requests by status (0 = no answer): {dict(sorted(self.failed_statuses.items()))}; "
            f"messages given up after {_GIVE_UP_SECONDS:.0f}s without a 2xx: {len(self.gave_up)}",
            f"  first attempt to 2xx: p50 {statistics.median(acks):.2f}s, "
            f"p99 {acks[int(len(acks) * 0.99)]:.2f}s, max {acks[-1]:.2f}s; "
            f"longer than Twilio's 15 s retry window: {sum(a > 15 for a in acks)}",
            f"  spawn to serving: p50 {statistics.median(starts):.1f}s, max {starts[-1]:.1f}s "
            f"({len(self.startup_seconds)} starts)",
            f"  inbound rows {self.inbound_rows}, missing {self.missing}, doubled {self.doubled_inbound}",
            f"  cases {self.cases}, doubled cases {self.doubled_cases}",
            f"  outbox rows {self.outbox_rows} ({self.inline} answered inline), sent {self.sent}, "
            f"unsent {self.unsent}, claimed again after a kill {self.claimed_again}",
            f"  platforms: delivered {self.delivered}, duplicates {self.duplicates} "
            f"(unexplained {self.unexplained_duplicates}), lost {self.lost}, "
            f"sends cut off by a kill {self.aborted_sends}",
        ]
        if self.pragmas:
            lines.append("  sqlite: " + ", ".join(f"{k}={v}" for k, v in self.pragmas.items()))
        lines.append(f"  log lines with ERROR/Traceback/500: {len(self.log_problems)}")
        lines += [f"    {line}" for line in self.log_problems[:10]]
        lines.append("  PASSED" if self.passed else f"  FAILED: {len(self.problems)} problems")
        lines += [f"    {line}" for line in self.problems]
        return "\n".join(lines)


def citizen(index: int, seed: int, parts: int) -> Script:
    """Even citizens text by SMS, odd ones write on WeChat; each tells a complaint in `parts` pieces."""
    rng = random.Random(seed * 100_003 + index)
    told = tuple("".join(rng.choice(_CHARS) for _ in range(6)) + f"{n}号" for n in range(1, parts + 1))
    if index % 2:
        return Script(index, "wechat", f"oCrash{seed % 10_000:04d}{index:07d}Citizen", told)
    return Script(index, "sms", f"+8613{seed % 100:02d}{index:07d}", told)


def _message_id(script: Script, number: int, seed: int) -> str:
    """The platform's id for one message: a Twilio SID (SM + 32 hex) or a WeChat MsgId (digits)."""
    digits = f"{seed % 10_000:04d}{script.index:07d}{number:03d}"
    return f"SM{digits.ljust(32, '0')}" if script.channel == "sms" else f"1{digits}"


class Fleet:
    """The one web process and the one worker, started again under a new name after each kill."""

    def __init__(self, cluster: Cluster, secrets: dict[str, str]) -> None:
        self.cluster = cluster
        self.secrets = secrets  # the platforms' map of WeChat app secrets, so each life is told apart
        self.current: dict[str, Process] = {}
        self.ready: dict[str, asyncio.Event] = {}
        self.lives: Counter[str] = Counter()
        self.port = 0  # where the "load balancer" sends webhooks now
        self.failure: BaseException | None = None
        self.startup_seconds: list[float] = []  # from spawning a process to its serving
        self._waiting: set[asyncio.Task[None]] = set()

    async def start(self, role: str) -> None:
        self.lives[role] += 1
        name = f"{role}-{self.lives[role]:03d}"
        self.secrets[wechat_secret(name)] = name
        if role == "serve":
            process = await self.cluster.start_web(name)
            assert process.port is not None
            self.port = process.port
        else:
            process = await self.cluster.start_worker(name)
        self.current[role] = process
        ready = self.ready[role] = asyncio.Event()

        async def when_ready() -> None:
            try:
                self.startup_seconds.append(await _until_ready(process))
            except BaseException as exc:  # it died while starting: the drill stops and says why
                self.failure = exc
                raise
            ready.set()

        task = asyncio.create_task(when_ready())
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def wait_ready(self, *roles: str) -> None:
        while not all(self.ready[role].is_set() for role in roles or _ROLES):
            if self.failure is not None:
                raise self.failure
            await asyncio.sleep(0.05)

    async def kill(self, role: str) -> Process:
        process = self.current[role]
        self.cluster.kill(process)
        await process.process.wait()
        process.log.close()
        return process


async def _until_ready(process: Process) -> float:
    """Seconds until the web process answers its health check, or the worker says it dispatches.

    The harness's own wait gives up after a minute; on a machine shared with other work a restart
    can take longer, and that is a figure to report rather than a failure.
    """
    began = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - began < _STARTUP_SECONDS:
            if not process.alive:
                raise RuntimeError(f"{process.name} exited while starting:\n{process.log_text()[-4000:]}")
            if process.port is None:
                if "dispatching outbox messages" in process.log_text():
                    return time.monotonic() - began
            else:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{process.port}/healthz") as response:
                        if response.status == 200:
                            return time.monotonic() - began
            await asyncio.sleep(0.1)
    log = process.log_text()[-4000:]
    raise RuntimeError(f"{process.name} not ready after {_STARTUP_SECONDS:.0f}s:\n{log}")


class Citizens:
    """Senders that retry until acknowledged, as Twilio and WeChat do, and remember what was."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        fleet: Fleet,
        options: Options,
        report: Report,
        on_done: Callable[[Script], Awaitable[None]],
    ) -> None:
        self.session = session
        self.fleet = fleet
        self.options = options
        self.report = report
        self.on_done = on_done
        self.rng = random.Random(options.seed)
        self.in_flight = 0
        self.acknowledged: set[str] = set()
        self.finished: list[Script] = []
        self.statuses: Counter[int] = Counter()
        self._numbers: Iterator[int] = iter(range(1, 10**7))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._one_after_another(stop) for _ in range(self.options.citizens)))

    async def _one_after_another(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            script = citizen(next(self._numbers), self.options.seed, self.options.parts)
            self.report.citizens += 1
            if await self._talk(script):
                await self.on_done(script)
                self.finished.append(script)

    async def _talk(self, script: Script) -> bool:
        """The citizen's messages in order; False when one was never acknowledged (then they stop)."""
        expected = script.expected()
        for number, words in enumerate(script.messages):
            message_id = _message_id(script, number, self.options.seed)
            self.report.messages += 1
            answer = await self._until_acknowledged(script, message_id, words)
            if answer is None:
                return False
            if script.channel == "sms" and not (len(answer) == 1 and expected[number](answer[0])):
                self.report.problem(f"sms citizen {script.index}: {words!r} was answered {answer!r}")
            await asyncio.sleep(self.rng.uniform(*self.options.think))
        return True

    async def _until_acknowledged(self, script: Script, message_id: str, words: str) -> list[str] | None:
        """Send until a 2xx; the TwiML texts for SMS, [] for WeChat; None when it never came."""
        began = time.monotonic()
        post = self._sms(script, message_id, words) if script.channel == "sms" else self._wechat(
            script, message_id, words
        )
        while time.monotonic() - began < _GIVE_UP_SECONDS:
            self.report.requests += 1
            self.in_flight += 1
            try:
                status, answer = await post()
            except (aiohttp.ClientError, OSError, TimeoutError):
                status, answer = 0, None
            finally:
                self.in_flight -= 1
            if 200 <= status < 300 and answer is not None:
                self.report.ack_seconds.append(time.monotonic() - began)
                return answer
            self.statuses[status] += 1
            self.report.failed_requests += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.25))
        self.report.gave_up.append(message_id)
        return None

    def _sms(self, script: Script, sid: str, words: str) -> _Post:
        form = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "AccountSid": ACCOUNT_SID,
            "From": script.address,
            "To": SMS_NUMBER,
            "Body": words,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + _SMS_PATH, form)
        headers = {"X-Twilio-Signature": signature}

        async def post() -> tuple[int, list[str] | None]:
            url = f"http://127.0.0.1:{self.fleet.port}{_SMS_PATH}"
            async with self.session.post(url, data=form, headers=headers) as answer:
                if not 200 <= answer.status < 300:
                    return answer.status, None
                self._count_ack(sid)
                try:
                    body = await answer.read()
                    texts = [e.text or "" for e in ElementTree.fromstring(body).iter("Message")]
                except (aiohttp.ClientError, ElementTree.ParseError):
                    return answer.status, None  # acknowledged, but the answer was cut off: send again
                return answer.status, texts

        return post

    def _wechat(self, script: Script, msg_id: str, words: str) -> _Post:
        # Each callback has its own nonce, as WeChat's do; a retry repeats the callback exactly.
        timestamp, nonce = str(int(time.time())), str(self.rng.randrange(10**9, 10**10))
        query = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": script.address}
        body = message_xml(fields_of("text", FromUserName=script.address, Content=words, MsgId=int(msg_id)))

        async def post() -> tuple[int, list[str] | None]:
            url = f"http://127.0.0.1:{self.fleet.port}{_WECHAT_PATH}"
            async with self.session.post(url, params=query, data=body.encode()) as answer:
                if not 200 <= answer.status < 300:
                    return answer.status, None
                self._count_ack(msg_id)
                try:
                    await answer.read()
                except aiohttp.ClientError:
                    return answer.status, None
                return answer.status, []

        return post

    def _count_ack(self, message_id: str) -> None:
        """A 2xx status line counts, whatever happens to the body after it: the platform has its answer."""
        self.acknowledged.add(message_id)


async def _claims(database: Database) -> int:
    async with database.reading() as session:
        return int(
            await session.scalar(select(func.count()).where(OutboxMessage.status == "sending")) or 0
        )


async def _until_busy(citizens: Citizens, patience: float = 5.0) -> None:
    """Wait (a little) for a webhook request in flight: a kill between requests proves less."""
    deadline = time.monotonic() + patience
    while citizens.in_flight == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.002)


async def _killer(
    fleet: Fleet, citizens: Citizens, database: Database, options: Options, report: Report
) -> None:
    rng = random.Random(options.seed * 31 + 1)
    began = time.monotonic()
    while sum(report.kills.values()) < options.kills:
        if options.minutes is not None and time.monotonic() - began > options.minutes * 60:
            print(f"time budget of {options.minutes:g} min reached", flush=True)
            break
        role = rng.choice(_ROLES)
        await fleet.wait_ready(role)
        await asyncio.sleep(rng.uniform(*options.gap))
        if role == "serve":
            await _until_busy(citizens)
        in_flight = citizens.in_flight
        claimed = await _claims(database)
        victim = await fleet.kill(role)
        report.kills[role] += 1
        report.kills_mid_request += role == "serve" and in_flight > 0
        report.kills_with_claims += claimed > 0
        await fleet.start(role)
        if options.progress:
            done = sum(report.kills.values())
            print(
                f"[{time.monotonic() - began:6.1f}s] kill {done}/{options.kills}: {victim.name} "
                f"({in_flight} webhook requests in flight, {claimed} outbox rows claimed); "
                f"citizens done {len(citizens.finished)}, messages acknowledged {len(citizens.acknowledged)}",
                flush=True,
            )


async def run(options: Options, root: Path, database_url: str) -> Report:
    """The whole drill in `root` against an empty database at `database_url`: what it found."""
    began = time.monotonic()
    report = Report(options.database)
    secrets: dict[str, str] = {}
    platforms = await Platforms(secrets).start()
    cluster = Cluster(root, database_url, platforms, lease_seconds=options.lease, pool_size=4)
    database = Database(database_url, pool_size=2)
    keys = keyring()
    fleet = Fleet(cluster, secrets)
    try:
        await cluster.upgrade()
        for role in _ROLES:
            await fleet.start(role)
        await fleet.wait_ready()

        async def staff_answer(script: Script) -> None:
            try:
                await queue_staff_answers(database, keys, script)
            except NoResultFound:
                who = f"{script.channel} citizen {script.index}"
                report.problem(f"{who}: every message got a 2xx, yet there is no conversation")

        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=15)  # Twilio's read timeout; WeChat waits five seconds
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            citizens = Citizens(session, fleet, options, report, staff_answer)
            stop = asyncio.Event()
            talking = asyncio.create_task(citizens.run(stop))
            try:
                await _killer(fleet, citizens, database, options, report)
            finally:
                stop.set()
            await fleet.wait_ready()
            await talking
        await wait_until_sent(database, platforms, timeout=options.lease * 3 + 60)
        await cluster.stop_all()
        report.seconds = time.monotonic() - began
        report.startup_seconds = fleet.startup_seconds
        report.failed_statuses = citizens.statuses
        await _verify(report, database, platforms, citizens)
        report.log_problems = cluster.problems()
        if database.is_sqlite:
            report.pragmas = await _sqlite_settings(database)
    except BaseException:
        await cluster.stop_all()
        print(cluster.logs(), file=sys.stderr)
        raise
    finally:
        await database.dispose()
        await platforms.close()
    return report


async def _verify(report: Report, database: Database, platforms: Platforms, citizens: Citizens) -> None:
    keys = keyring()
    async with database.reading() as session:
        conversations = list(await session.scalars(select(Conversation).order_by(Conversation.id)))
        inbound = list(await session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        cases = list(await session.scalars(select(Case).order_by(Case.id)))
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    ids = Counter(m.provider_message_id for m in inbound)
    # The inbound log keeps a keyed hash of each platform message id, never the id itself.
    acknowledged = {inbox.message_key(keys, message_id): message_id for message_id in citizens.acknowledged}
    lost = sorted(acknowledged[key] for key in acknowledged.keys() - set(ids))
    report.acknowledged = len(citizens.acknowledged)
    report.inbound_rows = len(inbound)
    report.missing = len(lost)
    report.doubled_inbound = sum(n - 1 for n in ids.values() if n > 1)
    for message_id in lost[:5]:
        report.problem(f"message {message_id} got a 2xx but is not in the database")

    inbound_of, cases_of, rows_of = by_conversation(inbound, cases, rows)
    report.cases = len(cases)
    report.doubled_cases = sum(len(theirs) - 1 for theirs in cases_of.values() if len(theirs) > 1)

    by_address = {(c.channel, keys.decrypt(c.address_enc)): c for c in conversations}
    for script in citizens.finished:
        who = f"{script.channel} citizen {script.index}"
        conversation = by_address.get((script.channel, script.address))
        if conversation is None:
            report.problem(f"{who}: no conversation")
            continue
        messages = inbound_of[conversation.id]
        if [m.text for m in messages] != script.messages:
            report.problem(f"{who}: messages {[m.text for m in messages]!r}, not the script in order")
        theirs = cases_of[conversation.id]
        if len(theirs) != 1 or theirs[0].description != "\n".join(script.parts):
            report.problem(f"{who}: {len(theirs)} cases, {[c.description for c in theirs]!r}")
        replies: defaultdict[int | None, list[Outbound]] = defaultdict(list)
        for row in rows_of[conversation.id]:
            replies[row.inbound_id].append(outbox.outbound_of(keys, row.payload))
        for message, expected in zip(messages, script.expected(), strict=False):
            texts = rendered(script.channel, replies[message.id])
            if not (len(texts) == 1 and expected(texts[0])):
                report.problem(f"{who}: {message.text!r} was answered {texts!r}")

    report.outbox_rows = len(rows)
    report.inline = sum(row.inline for row in rows)
    report.sent = sum(row.status in _SENT for row in rows)
    report.unsent = report.outbox_rows - report.sent
    for row in rows:
        if row.status not in _SENT:
            report.problem(f"outbox {row.id} is {row.status} ({row.error})")
    report.claimed_again = sum(1 for row in rows if not row.inline and row.attempts > 1)
    report.aborted_sends = len(platforms.aborted)
    report.delivered = len(platforms.delivered)
    if platforms.refused:
        report.problem(f"the platforms refused: {platforms.refused[:3]}")
    _compare_deliveries(report, keys, rows, platforms)


def _compare_deliveries(
    report: Report, keys: Keyring, rows: list[OutboxMessage], platforms: Platforms
) -> None:
    """What each address was owed by the dispatcher against what the platforms delivered to it."""
    owed: defaultdict[str, Counter[str]] = defaultdict(Counter)
    again: defaultdict[str, set[str]] = defaultdict(set)  # texts of rows claimed more than once
    for row in rows:
        if row.inline or row.status not in _SENT:
            continue
        address = keys.decrypt(row.address_enc)
        for piece in rendered(row.channel, [outbox.outbound_of(keys, row.payload)]):
            owed[address][piece] += 1
            if row.attempts > 1:
                again[address].add(piece)
    got: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for delivery in platforms.delivered:
        got[delivery.to][delivery.text] += 1
    for address in set(owed) | set(got):
        extra = got[address] - owed[address]
        short = owed[address] - got[address]
        report.duplicates += sum(extra.values())
        report.lost += sum(short.values())
        for piece, count in extra.items():
            if piece not in again[address]:
                report.unexplained_duplicates += count
                report.problem(f"{address[:8]}…: {piece[:20]!r} delivered {count} more, never re-claimed")
        for piece in short:
            report.problem(f"{address[:8]}…: {piece[:20]!r} marked sent but never delivered")


async def _sqlite_settings(database: Database) -> dict[str, str]:
    """What every connection of the service gets (the same engine hook), and the file's health."""
    async with database.reading() as session:
        return {
            name: str(await session.scalar(text(f"PRAGMA {name}")))
            for name in ("journal_mode", "synchronous", "integrity_check")
        }


async def _postgres_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    """An empty database for `sunshine db upgrade` to build, and how to drop it afterwards."""
    name = f"sunshine_crash_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()

    async def drop() -> None:
        connection = await asyncpg.connect(ADMIN_URL)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", drop


async def main(options: Options) -> Report:
    with tempfile.TemporaryDirectory(prefix="sunshine-crash-") as directory:
        root = Path(directory)
        if options.database == "sqlite":
            return await run(options, root, f"sqlite+aiosqlite:///{root / 'sunshine.db'}")
        url, drop = await _postgres_database()
        try:
            return await run(options, root, url)
        finally:
            await drop()


def _arguments(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tests.drills.crash", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs in all (default 100)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--citizens", type=int, default=12, help="citizens talking at the same time")
    parser.add_argument("--lease", type=float, default=10.0, help="outbox lease in seconds")
    parser.add_argument("--minutes", type=float, help="stop killing after this long (a busy machine)")
    args = parser.parse_args(argv)
    return Options(kills=args.kills, database=args.database, seed=args.seed, citizens=args.citizens,
                   lease=args.lease, minutes=args.minutes)


if __name__ == "__main__":
    found = asyncio.run(main(_arguments(None)))
    print(found.summary(), flush=True)
    sys.exit(0 if found.passed else 1)
