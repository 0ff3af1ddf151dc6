"""Benchmark: draining the outbox through the real dispatcher and SMS client to a local fake Twilio.

The fake (`tests.fakes.twilio_api.FakeTwilio`, Twilio's wire format) runs in its own process pinned to
one core, the service side to the other, so the provider's work does not eat the dispatcher's CPU.

- Baseline: the same `messages.create` calls through the same client (`channels.sms.client.TwilioSender`)
  from a tight asyncio loop at the dispatcher's concurrency (one batch): the fake's ceiling on this
  machine. The drain rate is reported as a ratio of it.
- Drain: `MESSAGES[size]` SMS notices, one per recipient, queued in the outbox of an SQLite file (and,
  in a full run, `POSTGRES_MESSAGES` in a fresh database on the local PostgreSQL when one answers),
  drained by `bots.dispatcher.Dispatcher.run` with the SMS channel `bots.bootstrap` builds (opt-out
  check, per-number spacing, group-committed marks). Rate = rows / time from the dispatcher's start
  until no row is pending or sending. Untimed warm-up sends go first (twilio imports lazily).
- Capped: the same dispatcher with a send-rate cap for the bot's SMS (`send_rate_per_second`, 500 and
  50 a second): the most requests the fake saw in any window [t, t + 1 s) (must not exceed the cap),
  and the rate after the first window, (rows - cap) / (last - first arrival): the first `cap` may go
  at once into an empty window, every later one waits for a place.

Every run counts at the fake: each queued body must arrive exactly once (nothing lost, nothing twice).
The 2 000 msg/s target is for SQLite, uncapped; it can only be met where the fake's own ceiling (the
baseline) is above it, so read the ratio: the drain's share of what the provider side allows.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.report import Row, Section

MESSAGES = {"smoke": 400, "full": 20_000}
BASELINE_MESSAGES = 5_000  # enough for a steady ceiling; the rest of a full run's time goes to the drains
POSTGRES_MESSAGES = 5_000  # full runs only; fewer, to stay within the run's time on a shared machine
# cap → rows queued for it: five windows at the cap in a full run, two in smoke.
CAPS = {"smoke": {50: 100}, "full": {500: 2_500, 50: 250}}
TARGET = 2_000.0  # msg/s, uncapped, SQLite
WARM_UP = 50  # untimed sends first: twilio's lazy imports, connection pools
CONCURRENCY = 50  # the dispatcher's batch: up to this many sends in flight at once
SECRET = "benchmark-secret-not-for-production-000"
POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


# ---- the fake provider, in its own process


def _serve_fake(conn: Connection, cpu: int | None) -> None:
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    asyncio.run(_fake_main(conn))


async def _fake_main(conn: Connection) -> None:
    from tests.fakes.twilio_api import FakeTwilio

    fake = await FakeTwilio().start()
    conn.send(fake.api_base)
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            break
        # "collect": what arrived since the last collect, as (body, arrival time) pairs
        arrived = [(request.fields.get("Body", ""), request.at) for request in fake.requests]
        fake.requests.clear()
        conn.send(arrived)
    await fake.close()


@dataclass
class Fake:
    process: Any
    conn: Connection
    api_base: str

    def collect(self) -> list[tuple[str, float]]:
        self.conn.send("collect")
        arrived: list[tuple[str, float]] = self.conn.recv()
        return arrived

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(10)


def start_fake(cpu: int | None) -> Fake:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve_fake, args=(theirs, cpu), daemon=True)
    process.start()
    return Fake(process, ours, ours.recv())


# ---- what the fake saw


def busiest_second(times: Sequence[float]) -> int:
    """The most arrivals in any window [t, t + 1 s): the figure a provider's per-second cap judges."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, at + 1.0) - i for i, at in enumerate(ordered)), default=0)


def exactly_once(arrived: Sequence[tuple[str, float]], bodies: Sequence[str]) -> tuple[int, int]:
    """(lost, duplicated): queued bodies that never arrived, and extra arrivals of any body."""
    seen = Counter(body for body, _ in arrived)
    lost = sum(1 for body in bodies if seen[body] == 0)
    return lost, sum(count - 1 for count in seen.values() if count > 1)


# ---- the baseline: the same client in a tight loop


async def baseline(api_base: str, count: int) -> float:
    from channels.sms.client import TwilioSender
    from channels.sms.settings import SmsSettings
    from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN

    settings = SmsSettings.model_validate(
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+10000000000",
         "api_base": api_base}
    )
    sender = TwilioSender(settings, timeout=30)
    for n in range(WARM_UP):  # twilio imports its REST resources on first use; a pool warms up
        await sender.create(to=_phone(n), from_="+10000000000", body=f"warm-up {n}")
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await sender.create(to=_phone(n), from_="+10000000000", body=f"baseline {n}")

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - started)
    finally:
        await sender.close()


def _phone(n: int) -> str:
    return f"+86138{n:08d}"


# ---- the drain through the real service


@dataclass
class Drained:
    rate: float
    seconds: float
    bodies: list[str]


class Service:
    """One deployment as `sunshine serve` builds it (bootstrap), SMS to the fake, on one database."""

    def __init__(self, database_url: str, data_dir: Path, api_base: str) -> None:
        from bots.bootstrap import bootstrap
        from bots.settings import BotSettings, Settings
        from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN

        table = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+10000000000",
                 "api_base": api_base}
        settings = Settings(
            database_url=database_url, data_dir=data_dir, secret_key=SECRET,
            bots={"county": BotSettings(channels=["sms"])}, channels={"sms": {"county": table}},
        )
        self.deployment = bootstrap(settings, password_cost="fast")
        self.services = self.deployment.services

    async def fill(self, bodies: Sequence[str]) -> None:
        """One notice per recipient, queued as the scheduler queues them (outbox.enqueue)."""
        from core import outbox
        from core.messages import Outbound

        for start in range(0, len(bodies), 2_000):
            async with self.services.database.transaction() as session:
                b = self.services.backend(session)
                for n in range(start, min(start + 2_000, len(bodies))):
                    await outbox.enqueue(b, bot_id="county", channel="sms", address=_phone(n),
                                         outbound=Outbound(bodies[n]), kind="notice")

    async def drain(self, count: int, cap: int | None, tag: str) -> Drained:
        """Queue `count` rows, run the dispatcher until none is pending or sending; rows per second."""
        from bots.dispatcher import Dispatcher
        from storage.models import OutboxMessage

        bodies = [f"{tag} {n}" for n in range(count)]
        await self.fill(bodies)
        await asyncio.sleep(1.0)  # the last run's sends leave the send-rate window
        rates = {("sms", "county"): cap} if cap is not None else {}
        dispatcher = Dispatcher(self.services, self.deployment.senders, send_rates=rates)
        unsent = select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_(("pending", "sending")))
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(dispatcher.run(stop))
        while True:
            await asyncio.sleep(0.02)
            async with self.services.database.reading() as session:
                if (await session.scalar(unsent)) == 0:
                    break
            if task.done():
                task.result()
                raise RuntimeError("the dispatcher stopped before the outbox was empty")
        seconds = time.perf_counter() - started
        stop.set()
        await task
        return Drained(count / seconds, seconds, bodies)

    async def close(self) -> None:
        await self.deployment.close()


async def _postgres_url() -> str | None:
    """A fresh database on the local PostgreSQL, or None when none answers."""
    import uuid

    import asyncpg

    name = f"bench_drain_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def _drop_postgres(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=2)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# ---- the section


def run(size: str) -> Section:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    fake_cpu = cpus[-1] if len(cpus) >= 2 else None
    mine = set(cpus[:-1]) if fake_cpu is not None else None
    before = os.sched_getaffinity(0) if mine else None
    if mine:
        os.sched_setaffinity(0, mine)
    fake = start_fake(fake_cpu)
    try:
        return asyncio.run(_measure(size, fake))
    finally:
        fake.stop()
        if before:
            os.sched_setaffinity(0, before)


def steady_rate(times: Sequence[float], cap: int) -> float:
    """Arrivals per second after the first full window: a capped queue's first `cap` messages may go at
    once (the window was empty), every later one waits for a slot, so (n − cap) / (last − first)."""
    ordered = sorted(times)
    if len(ordered) <= cap or ordered[-1] == ordered[0]:
        return 0.0
    return (len(ordered) - cap) / (ordered[-1] - ordered[0])


async def _measure(size: str, fake: Fake) -> Section:
    count = MESSAGES[size]
    rows: list[Row] = []
    creates = min(count, BASELINE_MESSAGES)
    ceiling = await baseline(fake.api_base, creates)
    fake.collect()
    rows.append(Row("drain", "fake Twilio ceiling, tight loop (msg/s)", f"{ceiling:,.0f}",
                    notes=f"{creates:,} creates, {CONCURRENCY} in flight, same client"))
    with tempfile.TemporaryDirectory(prefix="sunshine-drain-") as tmp:
        databases: list[tuple[str, str]] = [("SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'drain.db'}")]
        pg = await _postgres_url() if size == "full" else None
        if pg is not None:
            databases.append(("PostgreSQL", pg))
        try:
            for label, url in databases:
                service = Service(url, Path(tmp) / label, fake.api_base)
                try:
                    await service.services.database.upgrade()
                    await service.drain(WARM_UP, None, f"warm-up {label}")
                    fake.collect()
                    queued = count if label == "SQLite" else min(count, POSTGRES_MESSAGES)
                    uncapped, rate = await _uncapped(service, label, queued, ceiling, fake)
                    rows += uncapped
                    if label == "SQLite":
                        for cap, queued in CAPS[size].items():
                            rows += await _capped(service, cap, queued, fake, rate)
                finally:
                    await service.close()
        finally:
            if pg is not None:
                await _drop_postgres(pg)
    return Section("Outbox drain", rows, __doc__ or "")


async def _uncapped(
    service: Service, label: str, count: int, ceiling: float, fake: Fake
) -> tuple[list[Row], float]:
    result = await service.drain(count, None, label)
    lost, twice = exactly_once(fake.collect(), result.bodies)
    judged = label == "SQLite"
    return [Row(
        "drain", f"uncapped drain, {label} (msg/s)", f"{result.rate:,.0f}", f"{ceiling:,.0f}",
        f"{result.rate / ceiling:.2f} of ceiling", f">= {TARGET:,.0f}" if judged else "",
        (result.rate >= TARGET and not lost and not twice) if judged else None,
        f"{count:,} rows in {result.seconds:.1f} s; lost {lost}, sent twice {twice}",
    )], result.rate


async def _capped(service: Service, cap: int, queued: int, fake: Fake, uncapped: float) -> list[Row]:
    """The cap's figures; the drain rate is judged against the cap, or against the uncapped drain of
    this run where that is lower (a cap above what the machine drains cannot be reached)."""
    result = await service.drain(queued, cap, f"cap{cap}")
    arrived = fake.collect()
    lost, twice = exactly_once(arrived, result.bodies)
    times = [at for _, at in arrived]
    peak = busiest_second(times)
    steady = steady_rate(times, cap)
    reachable = min(float(cap), uncapped)
    return [
        Row("drain", f"cap {cap}/s: busiest 1 s window at the fake", str(peak), str(cap),
            f"{peak / cap:.2f} of cap", f"<= {cap}", peak <= cap and not lost and not twice,
            f"{queued:,} rows; lost {lost}, sent twice {twice}"),
        Row("drain", f"cap {cap}/s: drain rate after the first second (msg/s)", f"{steady:,.1f}",
            f"{reachable:,.0f}", f"{steady / reachable:.2f} of min(cap, uncapped)",
            ">= 0.9 of min(cap, uncapped drain)", steady >= 0.9 * reachable,
            f"(rows − cap) / (last − first arrival); all {queued:,} in {result.seconds:.1f} s"),
    ]
