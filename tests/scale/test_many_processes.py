"""Many `sunshine serve` and `sunshine worker` processes on one PostgreSQL database (GitHub issue #6).

Real processes, real webhooks signed as Twilio and WeChat sign them, a fake platform API that records
what it delivered. The sizes default to the issue's (2 000 messages from 100 citizens, 4 web processes,
2 workers) and can be changed with SUNSHINE_SCALE_MESSAGES, _SENDERS, _WEB and _WORKERS.
PostgreSQL only: without a server these tests are skipped, and the run ends with the loud notice.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import select

from core import outbox
from core.messages import Outbound
from storage.database import Database
from storage.models import OutboxMessage
from tests.postgres import ADMIN_URL, NO_POSTGRES, PostgresServer
from tests.scale.cluster import BOT, Cluster, wechat_secret
from tests.scale.phones import Phones, Transcript, scripts
from tests.scale.platforms import Platforms
from tests.scale.verify import backend, check, keyring, queue_staff_answers, wait_until_sent

MESSAGES = int(os.environ.get("SUNSHINE_SCALE_MESSAGES", "2000"))
SENDERS = int(os.environ.get("SUNSHINE_SCALE_SENDERS", "100"))
WEB = int(os.environ.get("SUNSHINE_SCALE_WEB", "4"))
WORKERS = int(os.environ.get("SUNSHINE_SCALE_WORKERS", "2"))
DUPLICATE_RATE = 0.05  # later messages a platform delivers twice, to two processes at once
SEED = 6


def _server(postgres_server: PostgresServer | None) -> PostgresServer:
    if postgres_server is None:
        pytest.skip(f"{NO_POSTGRES} at {ADMIN_URL}: the multi-process tests need it")
    return postgres_server


async def _empty_database(server: PostgresServer, name: str) -> str:
    """A database with no schema at all, for `sunshine db upgrade` to build; dropped with the others."""
    database = f"sunshine_t_{server.run_id}_{name}"
    connection = await asyncpg.connect(server.admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()
    server.created.append(database)
    return server.url_for(database)


async def test_many_web_processes_and_workers_serve_every_citizen_in_order_and_once(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    server = _server(postgres_server)
    url = await _empty_database(server, "many")
    names = [f"web-{n}" for n in range(1, WEB + 1)] + [f"worker-{n}" for n in range(1, WORKERS + 1)]
    platforms = await Platforms({wechat_secret(name): name for name in names}).start()
    cluster = Cluster(tmp_path, url, platforms, lease_seconds=30, pool_size=4)
    database = Database(url, pool_size=4)
    keys = keyring()
    people = scripts(SENDERS, MESSAGES // SENDERS, SEED)
    try:
        began = time.monotonic()
        await cluster.upgrade()
        upgraded = time.monotonic() - began
        webs = [await cluster.start_web(name) for name in names[:WEB]]
        workers = [await cluster.start_worker(name) for name in names[WEB:]]
        await asyncio.gather(*(cluster.wait_until_ready(p) for p in [*webs, *workers]))

        started = time.monotonic()
        ready = started - began - upgraded
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            phones = Phones(
                session, [p.port for p in webs if p.port], platforms, duplicate_rate=DUPLICATE_RATE
            )

            async def citizen(index: int) -> Transcript:
                transcript = await phones.talk(people[index], SEED)
                await queue_staff_answers(database, keys, people[index])
                return transcript

            transcripts = await asyncio.gather(*(citizen(i) for i in range(len(people))))
        talked = time.monotonic() - started
        await wait_until_sent(database, platforms, timeout=120)
        elapsed = time.monotonic() - started

        found = await check(database, keys, platforms, transcripts)
        stopping = time.monotonic()
        codes = await cluster.stop_all()
        stopped = time.monotonic() - stopping
    except BaseException:
        await cluster.stop_all()
        print(cluster.logs())
        raise
    finally:
        await database.dispose()
        await platforms.close()

    seconds = sorted(s for t in transcripts for s in t.seconds)
    copies = sum(t.copies for t in transcripts)
    print(
        f"\n{len(seconds)} messages ({copies} delivered twice) from {len(people)} citizens through {WEB} web "
        f"processes and {WORKERS} workers: talking {talked:.1f}s, all sent {elapsed:.1f}s; answer p50 "
        f"{statistics.median(seconds):.2f}s p95 {seconds[int(len(seconds) * 0.95)]:.2f}s; "
        f"{found.outbox_rows} outbox rows, {found.dispatched} dispatched ({found.retried} retried); "
        f"WeChat deliveries per process {dict(sorted(found.by_process.items()))}; "
        f"upgrade {upgraded:.1f}s, start {ready:.1f}s, stop {stopped:.1f}s"
    )
    assert found.problems == [], "\n".join(found.problems)
    assert all(found.by_process[name] > 0 for name in names[WEB:]), "a worker sent nothing"
    assert cluster.problems() == [], "\n".join(cluster.problems()[:20])
    assert set(codes.values()) == {0}, codes


LEASE = 10.0
KILL_ROWS = 6  # per channel


async def test_a_killed_workers_claimed_rows_are_sent_once_by_another_after_the_lease(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    server = _server(postgres_server)
    url = await server.fresh_database()
    platforms = await Platforms({wechat_secret(name): name for name in ("worker-a", "worker-b")}).start()
    cluster = Cluster(tmp_path, url, platforms, lease_seconds=LEASE, pool_size=2)
    database = Database(url, pool_size=2)
    keys = keyring()
    owed = {("sms", f"+8613700{n:06d}") for n in range(KILL_ROWS)}
    owed |= {("wechat", f"oKill{n:06d}CitizenOpenid") for n in range(KILL_ROWS)}
    try:
        async with database.transaction() as session:
            b = backend(session, keys)
            for channel, address in sorted(owed):
                await outbox.enqueue(
                    b,
                    bot_id=BOT,
                    channel=channel,
                    address=address,
                    outbound=Outbound(f"通知 {address}"),
                    kind="staff",
                )
        platforms.hold = True  # the platform answers nothing: worker A will sit in the middle of its batch
        doomed = await cluster.start_worker("worker-a")
        await cluster.wait_until_ready(doomed)
        deadline = time.monotonic() + 30
        while True:
            async with database.reading() as session:
                rows = list(await session.scalars(select(OutboxMessage)))
            if all(r.status == "sending" for r in rows) and platforms.held_now >= 1:
                break
            assert time.monotonic() < deadline, "worker A never claimed its batch"
            await asyncio.sleep(0.05)
        lease_ends = max(r.lease_until for r in rows if r.lease_until is not None)

        cluster.kill(doomed)
        await doomed.process.wait()
        while platforms.held_now:  # the platform notices the dead connections before answering anything
            await asyncio.sleep(0.05)
        platforms.hold = False
        survivor = await cluster.start_worker("worker-b")
        await wait_until_sent(database, platforms, timeout=LEASE * 4)

        async with database.reading() as session:
            rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        await cluster.stop(survivor)
        await cluster.stop(doomed)
    except BaseException:
        await cluster.stop_all()
        print(cluster.logs())
        raise
    finally:
        await database.dispose()
        await platforms.close()

    delivered = [(d.channel, d.to) for d in platforms.delivered]
    assert sorted(delivered) == sorted(owed), "every claimed row sent exactly once"
    assert {d.process for d in platforms.delivered if d.channel == "wechat"} == {"worker-b"}
    assert platforms.aborted, "worker A was killed in the middle of sending"
    assert all(r.status == "sent" and r.attempts == 2 for r in rows), [(r.status, r.attempts) for r in rows]
    assert all(r.sent_at is not None and r.sent_at >= lease_ends for r in rows), (
        "nothing before the lease ran out"
    )
    print(
        f"\nworker A killed holding {len(rows)} rows ({len(platforms.aborted)} mid-send); "
        "worker B sent each once"
    )
