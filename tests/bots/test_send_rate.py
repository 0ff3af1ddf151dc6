"""A bot channel's send-rate cap: claims take no more than it allows, across dispatchers, and the
platform never sees more than the cap in any one second while a full queue drains at about the cap."""

from __future__ import annotations

import asyncio
import bisect
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bots.dispatcher import Dispatcher
from bots.pipeline import Services
from bots.settings import Settings, SettingsError, load_settings
from channels.base import ChannelContext, Delivery
from core import outbox
from core.backend import Backend
from core.clock import FixedClock, SystemClock
from core.messages import Capabilities, Outbound
from storage.database import Database

RATES = {("sms", "county"): 3}


async def put(b: Backend, n: int, *, bot_id: str = "county", channel: str = "sms") -> int:
    row = await outbox.enqueue(
        b, bot_id=bot_id, channel=channel, address=f"+86138000000{n:02d}", outbound=Outbound(f"m{n}"),
        kind="notice",
    )
    assert row.id is not None
    return row.id


async def claim(services: Services, limit: int = 50) -> list[outbox.Claimed]:
    async with services.database.transaction() as session:
        return await outbox.claim(services.backend(session), limit=limit, rates=RATES)


async def answer(services: Services, claimed: list[outbox.Claimed]) -> None:
    async with services.database.transaction() as session:
        await outbox.mark_sent_many(services.backend(session), {row.id: None for row in claimed})


async def test_a_capped_bot_channel_is_claimed_no_faster_than_its_cap(
    services: Services, clock: FixedClock
) -> None:
    async with services.database.transaction() as session:
        b = services.backend(session)
        capped = [await put(b, n) for n in range(7)]
        other_bot = await put(b, 50, bot_id="town")
        other_channel = await put(b, 51, channel="wechat")

    first = await claim(services)
    start = clock.now()
    assert [row.id for row in first] == [*capped[:3], other_bot, other_channel]
    assert [row.not_before for row in first] == [start, start, start, None, None]

    # In flight, the three hold the whole cap: nobody knows when they will be answered.
    assert await claim(services) == []

    await answer(services, first)
    clock.advance(seconds=0.4)
    # Answered at `start`, their places come free a second later: the dispatcher is told when.
    later = start + timedelta(seconds=1)
    async with services.database.transaction() as session:
        waiting = await outbox.claim_batch(services.backend(session), rates=RATES)
    assert (waiting.rows, waiting.room_at) == ([], later)
    clock.advance(seconds=0.5)
    # Within a claim's horizon of that moment they are promised to the next rows, to go at `later`.
    second = await claim(services, limit=2)
    assert [(row.id, row.not_before) for row in second] == [(capped[3], later), (capped[4], later)]
    # Another worker counts those two as promised and gets the third place only.
    third = await claim(services)
    assert [(row.id, row.not_before) for row in third] == [(capped[5], later)]
    assert await claim(services) == []

    await answer(services, second + third)
    clock.advance(seconds=1.5)  # every answer is more than a second old
    last = await claim(services)
    assert [(row.id, row.not_before) for row in last] == [(capped[6], clock.now())]


async def test_a_refused_send_counts_and_an_unsent_one_does_not(
    services: Services, clock: FixedClock
) -> None:
    async with services.database.transaction() as session:
        b = services.backend(session)
        ids = [await put(b, n) for n in range(6)]
    first = await claim(services)
    async with services.database.transaction() as session:
        b = services.backend(session)
        await outbox.mark_failed(b, ids[0], "429 too many requests", retry=True)  # reached the platform
        await outbox.mark_failed(b, ids[1], "opted out", retry=False, attempted=False)  # never sent
        await outbox.mark_failed(b, ids[2], "opted out", retry=False, attempted=False)
    assert len(first) == 3
    # One place is held a second by the refused send; the two unsent rows gave theirs back at once.
    start = clock.now()
    again = await claim(services)
    assert [(row.id, row.not_before) for row in again] == [(ids[3], start), (ids[4], start)]
    clock.advance(seconds=0.9)
    last = await claim(services)
    assert [(row.id, row.not_before) for row in last] == [(ids[5], start + timedelta(seconds=1))]


async def test_a_send_whose_lease_ran_out_holds_no_place(services: Services, clock: FixedClock) -> None:
    async with services.database.transaction() as session:
        b = services.backend(session)
        ids = [await put(b, n) for n in range(3)]
    async with services.database.transaction() as session:
        dead = await outbox.claim(services.backend(session), lease=timedelta(seconds=5), rates=RATES)
    assert [row.id for row in dead] == ids
    clock.advance(seconds=6)  # the worker died mid-batch; its claims are due again
    assert [row.id for row in await claim(services)] == ids


class Platform:
    """A channel whose sends take a few milliseconds, recording when each one arrived."""

    capabilities = Capabilities()

    def __init__(self, name: str) -> None:
        self.name = name
        self.arrivals: list[tuple[str, float]] = []

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        return []

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        await asyncio.sleep(0.002)
        self.arrivals.append((message.text, asyncio.get_running_loop().time()))
        await asyncio.sleep(0.003)
        return Delivery(ok=True, provider_message_id=f"P-{message.text}")


def busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, at + 1.0) - i for i, at in enumerate(ordered))


async def test_two_dispatchers_together_keep_to_the_cap_and_drain_at_it(
    database: Database, services: Services
) -> None:
    """Two workers on one database (each with its own engine, as two processes have): 30 messages at
    10 a second go in three seconds' windows, never 11 in one second, each exactly once."""
    cap, count = 10, 30
    live = Services(
        database=database, keyring=services.keyring, clock=SystemClock(), policy=services.policy,
        calendar=services.calendar, profiles=services.profiles,
    )
    async with live.database.transaction() as session:
        b = live.backend(session)
        for n in range(count):
            await put(b, n)
    other_database = Database(database.url.render_as_string(hide_password=False))
    other = Services(
        database=other_database, keyring=live.keyring, clock=live.clock, policy=live.policy,
        calendar=live.calendar, profiles=live.profiles,
    )
    platform = Platform("sms")
    workers = [
        Dispatcher(each, {"sms": platform}, batch=5, idle_seconds=1.0, send_rates={("sms", "county"): cap})
        for each in (live, other)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        async with asyncio.timeout(10):
            while len(platform.arrivals) < count:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # nothing more arrives
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await other_database.dispose()

    texts = sorted(text for text, _ in platform.arrivals)
    assert texts == sorted(f"m{n}" for n in range(count))  # nothing lost, nothing twice
    times = [at for _, at in platform.arrivals]
    assert busiest_second(times) == cap
    # Three windows of ten: the last ten go two seconds (plus round trips and the spread of the first
    # ten) after the first; a dispatcher idling out each full window would need four.
    assert 2.0 <= max(times) - min(times) < 3.0


def test_the_cap_is_read_from_the_channel_table_and_kept_from_the_channel(tmp_path: Path) -> None:
    config = tmp_path / "sunshine.toml"
    config.write_text(
        '[bots.county]\nchannels = ["sms"]\n\n'
        '[channels.sms.county]\naccount_sid = "AC00000000000000000000000000000000"\n'
        "send_rate_per_second = 50\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.send_rates == {("sms", "county"): 50}
    assert settings.channels["sms"]["county"] == {"account_sid": "AC00000000000000000000000000000000"}


def test_the_cap_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNSHINE_CHANNELS__TELEGRAM__COUNTY__SEND_RATE_PER_SECOND", "30")
    assert load_settings(environ_only=True).send_rates == {("telegram", "county"): 30}


@pytest.mark.parametrize("value", ["0", "2.5", "fast", "-3"])
def test_a_cap_that_is_not_a_whole_positive_number_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SUNSHINE_CHANNELS__SMS__COUNTY__SEND_RATE_PER_SECOND", value)
    with pytest.raises(SettingsError) as caught:
        load_settings(environ_only=True)
    expected = "channels.sms.county.send_rate_per_second: a whole number of messages per second, 1 to 100000"
    assert expected in str(caught.value)


def test_without_a_cap_nothing_is_capped() -> None:
    assert Settings(channels={"sms": {"county": {"from_number": "+861"}}}).send_rates == {}
