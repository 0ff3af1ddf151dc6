"""The outbox dispatcher: claim, send outside the transaction, mark; a raising channel means retry later."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp import web

from bots.dispatcher import Dispatcher
from bots.pipeline import Services
from channels.base import ChannelContext, Delivery
from core import optout, outbox
from core.clock import FixedClock
from core.messages import Capabilities, Outbound
from storage.models import OutboxMessage


class FakeChannel:
    capabilities = Capabilities()

    def __init__(self, name: str, *, fail: Exception | None = None, delivery: Delivery | None = None) -> None:
        self.name = name
        self.fail = fail
        self.delivery = delivery or Delivery(ok=True, provider_message_id="P-1")
        self.sent: list[tuple[str, str, str]] = []

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        return []

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        self.sent.append((bot_id, address, message.text))
        if self.fail is not None:
            raise self.fail
        return self.delivery


async def enqueue(services: Services, channel: str, address: str, text: str, kind: str = "reply") -> int:
    async with services.database.transaction() as session:
        row = await outbox.enqueue(
            services.backend(session),
            bot_id="county",
            channel=channel,
            address=address,
            outbound=Outbound(text),
            kind=kind,
        )
        assert row.id is not None
        return row.id


async def row(services: Services, row_id: int) -> OutboxMessage:
    async with services.database.reading() as session:
        found = await session.get(OutboxMessage, row_id)
        assert found is not None
        return found


async def test_a_pending_row_is_sent_through_its_channel_and_marked_sent(services: Services) -> None:
    sms = FakeChannel("sms")
    first = await enqueue(services, "sms", "+8613800138000", "您的件已办结")
    second = await enqueue(services, "sms", "+8613800138000", "请回复1-4评价")
    other = await enqueue(services, "pigeon", "roof", "not ours")

    assert await Dispatcher(services, {"sms": sms}).run_once() == 2

    assert sms.sent == [
        ("county", "+8613800138000", "您的件已办结"),
        ("county", "+8613800138000", "请回复1-4评价"),  # one address: in order
    ]
    for row_id in (first, second):
        sent = await row(services, row_id)
        assert (sent.status, sent.provider_message_id, sent.attempts) == ("sent", "P-1", 1)
    assert (await row(services, other)).status == "pending"  # no channel here to send it
    assert await Dispatcher(services, {"sms": sms}).run_once() == 0


async def test_a_raising_channel_leaves_the_row_for_a_retry_without_the_message(
    services: Services, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    broken = FakeChannel("sms", fail=RuntimeError("gateway down for +8613800138000"))
    row_id = await enqueue(services, "sms", "+8613800138000", "您好")

    assert await Dispatcher(services, {"sms": broken}).run_once() == 1

    failed = await row(services, row_id)
    assert (failed.status, failed.error, failed.attempts) == ("pending", "exception: RuntimeError", 1)
    assert failed.next_attempt_at is not None and failed.next_attempt_at > clock.now()
    assert "RuntimeError" in caplog.text
    assert "+8613800138000" not in caplog.text and "您好" not in caplog.text

    clock.advance(seconds=policy_backoff_cap(services))
    healed = FakeChannel("sms")
    assert await Dispatcher(services, {"sms": healed}).run_once() == 1
    assert (await row(services, row_id)).status == "sent"


async def test_sending_happens_outside_any_transaction(services: Services) -> None:
    class Writing(FakeChannel):
        async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
            # On SQLite one writer at a time: this would wait forever if the claim were still open.
            async with asyncio.timeout(2), services.database.transaction() as session:
                await outbox.enqueue(
                    services.backend(session), bot_id=bot_id, channel="log", address="x", outbound=message
                )
            return await super().send(bot_id, address, message)

    row_id = await enqueue(services, "sms", "+861", "a")
    await Dispatcher(services, {"sms": Writing("sms")}).run_once()
    assert (await row(services, row_id)).status == "sent"


async def test_a_refused_delivery_is_retried_or_given_up_as_the_channel_says(services: Services) -> None:
    transient = await enqueue(services, "sms", "+861", "a")
    permanent = await enqueue(services, "wechat", "openid", "b")
    channels = {
        "sms": FakeChannel("sms", delivery=Delivery(ok=False, error="429", retry=True)),
        "wechat": FakeChannel("wechat", delivery=Delivery(ok=False, error="user blocked", retry=False)),
    }

    await Dispatcher(services, channels).run_once()

    assert ((await row(services, transient)).status, (await row(services, transient)).error) == (
        "pending",
        "429",
    )
    assert (await row(services, permanent)).status == "undeliverable"


async def test_a_hanging_send_times_out_as_a_retryable_failure(services: Services) -> None:
    class Hanging(FakeChannel):
        async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
            await asyncio.sleep(60)
            raise AssertionError("not reached")

    row_id = await enqueue(services, "sms", "+861", "a")
    dispatcher = Dispatcher(services, {"sms": Hanging("sms")}, lease=timedelta(seconds=0.1))
    await dispatcher.run_once()
    assert ((await row(services, row_id)).status, (await row(services, row_id)).error) == (
        "pending",
        "timeout",
    )


async def test_the_loop_wakes_when_told_and_stops_cleanly(services: Services) -> None:
    sms = FakeChannel("sms")
    dispatcher = Dispatcher(services, {"sms": sms}, idle_seconds=30)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(0.05)  # idle: nothing to send, waiting up to 30 s

    row_id = await enqueue(services, "sms", "+861", "工作人员回复")
    dispatcher.wake()
    for _ in range(100):
        if sms.sent:
            break
        await asyncio.sleep(0.01)
    assert sms.sent == [("county", "+861", "工作人员回复")]

    stop.set()
    await asyncio.wait_for(task, 1)
    assert (await row(services, row_id)).status == "sent"


def policy_backoff_cap(services: Services) -> float:
    return services.policy.outbox_backoff_cap_seconds + 1


async def test_an_opted_out_number_gets_no_notices_but_still_its_replies(services: Services) -> None:
    phone = "+8613900000001"
    async with services.database.transaction() as session:
        await optout.opt_out(services.backend(session), "county", "sms", phone)
    notice = await enqueue(services, "sms", phone, "您的件已受理", kind="notice")
    survey = await enqueue(services, "sms", phone, "请回复1-4评价", kind="survey")
    reply = await enqueue(services, "sms", phone, "已退订。回复START可恢复。")
    sms = FakeChannel("sms")

    await Dispatcher(services, {"sms": sms}).run_once()

    assert sms.sent == [("county", phone, "已退订。回复START可恢复。")]
    for row_id in (notice, survey):
        skipped = await row(services, row_id)
        assert (skipped.status, skipped.error) == ("undeliverable", "opted out")
    assert (await row(services, reply)).status == "sent"


class SlowChannel(FakeChannel):
    """Answers after a pause, counting how many sends are in flight at once."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return await super().send(bot_id, address, message)
        finally:
            self.in_flight -= 1


async def test_lanes_keep_several_batches_in_flight_and_send_each_row_once(services: Services) -> None:
    sms = SlowChannel("sms")
    ids = [await enqueue(services, "sms", f"+86139{n:08d}", f"通知{n}", kind="notice") for n in range(40)]
    dispatcher = Dispatcher(services, {"sms": sms}, batch=5, lanes=4)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    for _ in range(300):
        if len(sms.sent) >= 40:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert sorted(text for _, _, text in sms.sent) == sorted(f"通知{n}" for n in range(40))
    assert sms.most_in_flight > 5  # more than one batch of 5 at a time
    assert {(await row(services, row_id)).status for row_id in ids} == {"sent"}
