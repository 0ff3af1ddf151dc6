"""The races of several processes on one database, one at a time and on purpose.

"Another process" is a second `Database` (its own engine and connections) on the same database, so
on PostgreSQL the two really contend for rows, and on SQLite for the one writer. Every test runs on
both, like all database tests; the PostgreSQL half is what a scaled-out deployment meets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bots.dispatcher import Dispatcher
from bots.pipeline import Pipeline, Services
from bots.scheduler import Scheduler
from channels.base import Delivery
from core import inbox, outbox
from core.backend import Backend
from core.clock import FixedClock
from core.messages import Capabilities, Inbound, Outbound
from storage.database import Database
from storage.models import Conversation, InboundMessage, OutboxMessage
from tests.conftest import TEST_BOT
from tests.postgres import ADMIN_URL, NO_POSTGRES, PostgresServer

SMS = Capabilities(max_length=1600, buttons=False, concise=True)


@pytest.fixture
async def other(database: Database) -> AsyncIterator[Database]:
    """The same database as seen from another process."""
    second = Database(database.url.render_as_string(hide_password=False))
    yield second
    await second.dispose()


def backend_on(session: AsyncSession, services: Services) -> Backend:
    return services.backend(session)


async def count(database: Database, model: type) -> int:
    async with database.reading() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def receive_in(database: Database, services: Services, message: Inbound) -> inbox.Received:
    async with database.transaction() as session:
        return await inbox.receive(backend_on(session, services), message)


@pytest.mark.parametrize("same_message", [True, False], ids=["a-retry", "two-messages"])
async def test_a_new_senders_first_messages_at_two_processes_at_once_share_one_conversation(
    database: Database, other: Database, services: Services, same_message: bool
) -> None:
    first_message = Inbound("wechat", TEST_BOT, "oNewSender", "m-1", "投诉")
    second_message = first_message if same_message else dataclasses.replace(first_message, message_id="m-2")

    async with database.transaction() as session:
        first = await inbox.receive(backend_on(session, services), first_message)
        racing = asyncio.create_task(receive_in(other, services, second_message))
        await asyncio.sleep(0.5)
        # It found no conversation and waits: for this insert to commit (PostgreSQL), or to write at all.
        assert not racing.done()
    second = await racing

    assert second.conversation.id == first.conversation.id
    assert second.replay is same_message
    assert (second.inbound_id == first.inbound_id) is same_message
    assert await count(database, Conversation) == 1
    assert await count(database, InboundMessage) == (1 if same_message else 2)


async def test_retries_delivered_to_two_processes_at_once_are_answered_alike_and_handled_once(
    database: Database, other: Database, services: Services
) -> None:
    here = Pipeline(services)
    there = Pipeline(dataclasses.replace(services, database=other))
    messages = [
        Inbound("sms", TEST_BOT, f"+861380000{sender:04d}", f"SM{sender}x{n}", text)
        for sender in range(8)
        for n, text in enumerate(["查询", "菜单", "帮助"])
    ]

    async def twice(message: Inbound) -> tuple[list[Outbound], list[Outbound]]:
        a, b = await asyncio.gather(
            here.handle(message, SMS, inline=True), there.handle(message, SMS, inline=True)
        )
        return a, b

    # Each sender's messages one after another (as a phone sends them), all senders at once.
    async def sender(index: int) -> list[tuple[list[Outbound], list[Outbound]]]:
        return [await twice(m) for m in messages[index * 3 : index * 3 + 3]]

    answers = [pair for result in await asyncio.gather(*(sender(i) for i in range(8))) for pair in result]

    assert all(a == b and a for a, b in answers)
    assert await count(database, Conversation) == 8
    assert await count(database, InboundMessage) == len(messages)
    async with database.reading() as session:
        rows = await session.execute(
            select(OutboxMessage.inbound_id, func.count()).group_by(OutboxMessage.inbound_id)
        )
        replies_per_message = {inbound_id: n for inbound_id, n in rows}
    assert sorted(replies_per_message.values()) == sorted(len(a) for a, _ in answers)


async def test_two_workers_claiming_at_once_take_different_rows(
    database: Database, other: Database, services: Services
) -> None:
    async with database.transaction() as session:
        b = backend_on(session, services)
        for n in range(6):
            await outbox.enqueue(
                b, bot_id=TEST_BOT, channel="sms", address=f"+8613{n:09d}", outbound=Outbound("x")
            )

    async with database.transaction() as session:
        mine = [c.id for c in await outbox.claim(backend_on(session, services), limit=3)]
        racing = asyncio.create_task(claim_in(other, services))
        if not database.is_sqlite:  # SKIP LOCKED: the other worker does not wait for this one
            theirs = await asyncio.wait_for(racing, 10)
    theirs = await racing

    assert len(mine) == 3 and len(theirs) == 3
    assert not set(mine) & set(theirs)


async def _staff_rows(database: Database, services: Services, count: int) -> tuple[list[int], int]:
    """`count` staff answers queued at once to one citizen, and a reply to another citizen."""
    async with database.transaction() as session:
        b = backend_on(session, services)
        received = await inbox.receive(b, Inbound("sms", TEST_BOT, "+8613800000001", "m1", "人工"))
        answers = [
            await outbox.enqueue(
                b,
                bot_id=TEST_BOT,
                channel="sms",
                address="+8613800000001",
                outbound=Outbound(f"staff {n}"),
                kind="staff",
                conversation_id=received.conversation.id,
            )
            for n in range(count)
        ]
        elsewhere = await outbox.enqueue(
            b, bot_id=TEST_BOT, channel="sms", address="+8613800000002", outbound=Outbound("x")
        )
    return [_row_id(row) for row in answers], _row_id(elsewhere)


def _row_id(row: OutboxMessage) -> int:
    assert row.id is not None
    return row.id


async def claim_in(database: Database, services: Services, limit: int = 50) -> list[int]:
    async with database.transaction() as session:
        return [c.id for c in await outbox.claim(backend_on(session, services), limit=limit)]


async def mark_in(database: Database, services: Services, row_id: int, *, ok: bool) -> None:
    async with database.transaction() as session:
        b = backend_on(session, services)
        if ok:
            await outbox.mark_sent(b, row_id)
        else:
            await outbox.mark_failed(b, row_id, "busy", retry=True)


async def test_one_worker_takes_a_citizens_waiting_rows_together_in_order(
    database: Database, services: Services
) -> None:
    answers, elsewhere = await _staff_rows(database, services, 3)

    assert await claim_in(database, services) == [*answers, elsewhere]


async def test_no_worker_takes_a_citizens_row_while_an_earlier_one_is_out(
    database: Database, other: Database, services: Services, clock: FixedClock
) -> None:
    (first, second, third), elsewhere = await _staff_rows(database, services, 3)

    async with database.transaction() as session:
        assert [c.id for c in await outbox.claim(backend_on(session, services), limit=1)] == [first]
        if not database.is_sqlite:  # this claim is not committed yet, and the other worker skips it
            assert await asyncio.wait_for(claim_in(other, services), 10) == [elsewhere]
    if database.is_sqlite:
        assert await claim_in(other, services) == [elsewhere]
    assert await claim_in(other, services) == []  # the rest wait while the first is being sent

    await mark_in(database, services, first, ok=True)
    assert await claim_in(other, services, limit=1) == [second]
    await mark_in(other, services, second, ok=False)
    assert await claim_in(database, services) == [third]  # a row waiting for its retry holds nobody up
    await mark_in(database, services, third, ok=True)
    await mark_in(database, services, elsewhere, ok=True)
    clock.advance(hours=2)
    assert await claim_in(other, services) == [second]


async def test_a_lease_is_renewed_only_by_the_worker_still_holding_the_row(
    database: Database, services: Services, clock: FixedClock
) -> None:
    lease = timedelta(seconds=60)
    async with database.transaction() as session:
        b = backend_on(session, services)
        await outbox.enqueue(
            b, bot_id=TEST_BOT, channel="sms", address="+8613800000001", outbound=Outbound("x")
        )
        [slow] = await outbox.claim(b, lease=lease)
        clock.advance(seconds=30)
        assert await outbox.renew(b, slow, lease)
        clock.advance(seconds=31)
        assert await outbox.claim(b, lease=lease) == []  # the renewal kept it
        clock.advance(seconds=30)
        [fast] = await outbox.claim(b, lease=lease)  # the lease ran out: another worker takes it

        assert not await outbox.renew(b, slow, lease)
        assert await outbox.renew(b, fast, lease)


@dataclasses.dataclass
class _SlowSms:
    """Sends slowly, and meanwhile "another worker" takes over what this one has not sent yet."""

    services: Services
    clock: FixedClock
    name: str = "sms"
    capabilities: Capabilities = SMS
    sent: list[str] = dataclasses.field(default_factory=list)

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        self.sent.append(message.text)
        if len(self.sent) == 1:
            self.clock.advance(minutes=5)
            async with self.services.database.transaction() as session:
                await outbox.claim(self.services.backend(session))
            await asyncio.sleep(0.6)  # past a quarter of the lease: the next row needs its lease renewed
        return Delivery(ok=True, provider_message_id=f"SM{len(self.sent)}")


async def test_a_worker_does_not_send_a_row_whose_lease_it_lost_mid_batch(
    database: Database, services: Services, clock: FixedClock
) -> None:
    async with database.transaction() as session:
        b = backend_on(session, services)
        for n in range(2):  # one address: sent one after the other from one batch
            await outbox.enqueue(
                b, bot_id=TEST_BOT, channel="sms", address="+8613800000001", outbound=Outbound(f"row {n}")
            )
    channel = _SlowSms(services, clock)
    dispatcher = Dispatcher(services, {"sms": channel}, lease=timedelta(seconds=2))  # type: ignore[dict-item]

    assert await dispatcher.run_once() == 2

    assert channel.sent == ["row 0"]  # row 1 is left to the worker that claimed it meanwhile
    async with database.reading() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert (rows[1].status, rows[1].attempts) == ("sending", 2)


async def test_two_schedulers_run_the_deadline_rules_once_between_them(
    database: Database, other: Database, services: Services
) -> None:
    here = Scheduler(services, holder="here")
    there = Scheduler(dataclasses.replace(services, database=other), holder="there")

    runs = await asyncio.gather(here.run_once(), there.run_once())

    assert sum(run is not None for run in runs) == 1
    assert await asyncio.gather(here.run_once(), there.run_once()) == [None, None]  # not due again yet


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_processes_starting_together_upgrade_an_empty_database_once(
    kind: str, tmp_path: Path, postgres_server: PostgresServer | None
) -> None:
    """Every `sunshine serve` upgrades the schema as it starts; here three start at the same moment."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    else:
        if postgres_server is None:
            pytest.skip(f"{NO_POSTGRES} at {ADMIN_URL}")
        name = f"sunshine_t_{postgres_server.run_id}_empty_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(postgres_server.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        postgres_server.created.append(name)
        url = postgres_server.url_for(name)
    # Three processes that import everything first, then upgrade at the same moment (a file says when).
    go = tmp_path / "go"
    upgrades = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _UPGRADE_TOGETHER,
            url,
            str(tmp_path / f"ready-{n}"),
            str(go),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for n in range(3)
    ]
    for n in range(3):
        while not (tmp_path / f"ready-{n}").exists():
            assert upgrades[n].returncode is None, "an upgrading process died before the start"
            await asyncio.sleep(0.05)
    go.touch()
    outputs = await asyncio.wait_for(asyncio.gather(*(u.communicate() for u in upgrades)), 120)

    assert [u.returncode for u in upgrades] == [0, 0, 0], [out.decode() for out, _ in outputs]
    database = Database(url)
    try:
        async with database.reading() as session:
            assert (await session.execute(text("SELECT count(*) FROM conversations"))).scalar_one() == 0
    finally:
        await database.dispose()


_UPGRADE_TOGETHER = """
import asyncio, pathlib, sys, time
from storage.database import Database
url, ready, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.01)
async def upgrade():
    database = Database(url)
    try:
        await database.upgrade()
    finally:
        await database.dispose()
asyncio.run(upgrade())
"""
