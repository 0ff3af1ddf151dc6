"""Long polling against the fake Bot API: updates consumed in order, the offset advanced and kept in a
file, replies queued in the outbox and sent by the dispatcher, a failed update fetched again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bots.cli_telegram import queueing_handler
from bots.dispatcher import Dispatcher
from bots.pipeline import Pipeline, Services
from channels.telegram import TelegramChannel
from channels.telegram.polling import OffsetStore, Poller, PollingStopped
from channels.telegram.replies import ReplyHandler
from core.messages import Inbound, Outbound
from tests.channels.telegram import builders as b
from tests.channels.telegram.conftest import BOT, CHAT, count_inbound, count_outbox
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
def dispatcher(services: Services, channel: TelegramChannel) -> Dispatcher:
    return Dispatcher(services, {"telegram": channel}, idle_seconds=0.05)


@pytest.fixture
def handler(pipeline: Pipeline, channel: TelegramChannel, dispatcher: Dispatcher) -> ReplyHandler:
    return queueing_handler(pipeline, channel.capabilities, dispatcher)


def poller_for(channel: TelegramChannel, handler: ReplyHandler, path: Path) -> Poller:
    poller = channel.poller(BOT, handler, path)
    poller.long_poll_seconds = 0
    poller.max_pause = 0.01
    return poller


async def test_updates_are_consumed_the_offset_advances_and_replies_go_out(
    channel: TelegramChannel,
    fake: FakeTelegram,
    handler: ReplyHandler,
    dispatcher: Dispatcher,
    services: Services,
    tmp_path: Path,
) -> None:
    fake.push_update(b.text(10, "你好"))
    fake.push_update(b.text(11, "举报"))
    offsets = tmp_path / "telegram" / "county.offset"
    poller = poller_for(channel, handler, offsets)

    assert await poller.poll_once() == 2

    assert offsets.read_text() == "12\n"
    [first] = fake.called("getUpdates")
    assert first.params == {"timeout": "0", "allowed_updates": ["message", "callback_query"]}
    assert await count_inbound(services) == 2
    assert await count_outbox(services, "pending") == 2

    assert await dispatcher.run_once() == 2
    sent = fake.called("sendMessage")
    assert [call.params["chat_id"] for call in sent] == [str(CHAT), str(CHAT)]
    assert "阳光县政务服务" in sent[0].params["text"]
    assert "举报的情况" in sent[1].params["text"]
    assert await count_outbox(services, "sent") == 2

    # The next call confirms the two: Telegram forgets them.
    assert await poller.poll_once() == 0
    assert fake.called("getUpdates")[-1].params["offset"] == "12"
    assert fake.updates == []


async def test_a_restart_continues_from_the_saved_offset(
    channel: TelegramChannel, fake: FakeTelegram, handler: ReplyHandler, services: Services, tmp_path: Path
) -> None:
    offsets = tmp_path / "county.offset"
    fake.push_update(b.text(10, "你好"))
    await poller_for(channel, handler, offsets).poll_once()

    fake.push_update(b.text(10, "你好"))  # as if Telegram had not seen the confirmation
    fake.push_update(b.text(11, "举报"))
    restarted = poller_for(channel, handler, offsets)
    assert restarted.offset == 11

    assert await restarted.poll_once() == 1
    assert fake.called("getUpdates")[-1].params["offset"] == "11"
    assert await count_inbound(services) == 2


async def test_an_update_handled_twice_is_a_replay_that_queues_nothing_new(
    channel: TelegramChannel, fake: FakeTelegram, handler: ReplyHandler, services: Services, tmp_path: Path
) -> None:
    # The offset file was lost after the first run: Telegram sends the update again.
    fake.push_update(b.text(10, "你好"))
    await poller_for(channel, handler, tmp_path / "a.offset").poll_once()
    fake.push_update(b.text(10, "你好"))
    await poller_for(channel, handler, tmp_path / "b.offset").poll_once()

    assert await count_inbound(services) == 1
    assert await count_outbox(services) == 1


async def test_a_failed_update_is_not_confirmed_and_comes_again(
    channel: TelegramChannel, fake: FakeTelegram, tmp_path: Path
) -> None:
    seen: list[str] = []
    stop = asyncio.Event()

    async def flaky(inbound: Inbound) -> list[Outbound] | None:
        seen.append(inbound.message_id)
        if len(seen) == 1:
            raise ConnectionError("database went away")
        stop.set()
        return None

    fake.push_update(b.text(10, "你好"))
    offsets = tmp_path / "county.offset"
    poller = poller_for(channel, flaky, offsets)

    await asyncio.wait_for(poller.run(stop), 5)

    assert len(seen) == 2 and seen[0] == seen[1]
    assert offsets.read_text() == "11\n"


async def test_a_pressed_button_is_answered_and_passed_on(
    channel: TelegramChannel, fake: FakeTelegram, tmp_path: Path
) -> None:
    got: list[Inbound] = []

    async def record(inbound: Inbound) -> list[Outbound] | None:
        got.append(inbound)
        return [Outbound("好的")]  # a handler that wants its replies sent now

    fake.push_update(b.press(10, "yes", (("yes", "是"),)))
    await poller_for(channel, record, tmp_path / "o").poll_once()

    assert [(i.choice, i.text) for i in got] == [("yes", "是")]
    assert [(c.method, c.params) for c in fake.calls[1:]] == [
        ("answerCallbackQuery", {"callback_query_id": "cq-10"}),
        ("sendMessage", {"chat_id": str(CHAT), "text": "好的"}),
    ]


async def test_stopping_cuts_a_long_poll_short(
    channel: TelegramChannel, fake: FakeTelegram, handler: ReplyHandler, tmp_path: Path
) -> None:
    fake.max_long_poll = 30
    poller = channel.poller(BOT, handler, tmp_path / "o")
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    while not fake.called("getUpdates"):
        await asyncio.sleep(0.01)

    stop.set()

    await asyncio.wait_for(task, 2)
    assert poller.offset is None


async def test_a_webhook_in_the_way_stops_polling_with_a_clear_reason(
    channel: TelegramChannel, fake: FakeTelegram, handler: ReplyHandler, tmp_path: Path
) -> None:
    fake.webhook = {"url": "https://example.org/webhooks/telegram/county"}
    with pytest.raises(PollingStopped, match="webhook is set"):
        await asyncio.wait_for(poller_for(channel, handler, tmp_path / "o").run(asyncio.Event()), 5)


async def test_telegram_trouble_only_delays_polling(
    channel: TelegramChannel, fake: FakeTelegram, tmp_path: Path
) -> None:
    fake.fail("getUpdates", 502, "Bad Gateway")
    fake.fail("getUpdates", 429, "Too Many Requests: retry after 0", retry_after=0)
    fake.push_update(b.text(10, "你好"))
    stop = asyncio.Event()

    async def done(inbound: Inbound) -> list[Outbound] | None:
        stop.set()
        return None

    await asyncio.wait_for(poller_for(channel, done, tmp_path / "o").run(stop), 5)
    assert len(fake.called("getUpdates")) == 3


@pytest.mark.parametrize("content", ["", "abc", "-5", "12 13", "\xff"])
def test_a_damaged_offset_file_is_ignored(tmp_path: Path, content: str) -> None:
    path = tmp_path / "o"
    path.write_text(content, encoding="latin-1")
    assert OffsetStore(path).load() is None


def test_an_offset_over_a_day_old_is_not_used(tmp_path: Path) -> None:
    # Telegram has forgotten those updates, and may have restarted its numbering below the offset.
    path = tmp_path / "o"
    OffsetStore(path).save(42)
    saved = path.stat().st_mtime
    assert OffsetStore(path, now=lambda: saved + 23 * 3600).load() == 42
    assert OffsetStore(path, now=lambda: saved + 25 * 3600).load() is None


async def test_a_running_poller_forgets_its_offset_after_a_quiet_day(
    channel: TelegramChannel, fake: FakeTelegram, handler: ReplyHandler, tmp_path: Path
) -> None:
    clock = [1_000_000.0]
    fake.push_update(b.text(10, "你好"))
    poller = poller_for(channel, handler, tmp_path / "o")
    poller.offsets.now = lambda: clock[0]
    await poller.poll_once()
    await poller.poll_once()
    assert fake.called("getUpdates")[-1].params["offset"] == "11"

    clock[0] += 25 * 3600
    await poller.poll_once()
    assert "offset" not in fake.called("getUpdates")[-1].params


def test_the_offset_file_is_replaced_whole(tmp_path: Path) -> None:
    store = OffsetStore(tmp_path / "deep" / "o")
    assert store.load() is None
    store.save(41)
    store.save(42)
    assert store.load() == 42
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["o"]
