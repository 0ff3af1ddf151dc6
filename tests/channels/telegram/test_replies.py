"""Which way each reply leaves: the webhook response, the Bot API during the request, or the outbox.

The pipeline is replaced by handlers that answer with chosen replies, to reach the shapes the engine
rarely produces (several messages, a text longer than one message, a step that outlasts its budget).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from channels.base import ChannelContext
from channels.telegram import TelegramChannel
from channels.telegram.keyboards import split_text
from core.messages import Choice, Inbound, Outbound
from tests.channels.telegram import builders as b
from tests.channels.telegram.conftest import (
    BOT,
    CHAT,
    Mailbox,
    MakeClient,
    VirtualTime,
    bot_settings,
    post_update,
    webhook_client,
)
from tests.fakes.telegram_api import FakeTelegram

LONG = "\n".join(f"第{i}行" + "说明" * 100 for i in range(30))
QUESTION = Outbound("还需要什么帮助？", (Choice("menu", "菜单"), Choice("human", "人工服务")))
KEYBOARD = {
    "inline_keyboard": [
        [{"text": "菜单", "callback_data": "menu"}],
        [{"text": "人工服务", "callback_data": "human"}],
    ]
}

Answer = Callable[[Inbound], Awaitable[list[Outbound] | None]]


async def mount(
    aiohttp_client: MakeClient,
    channel: TelegramChannel,
    fake: FakeTelegram,
    answer: Answer,
    *,
    budgeted: bool,
) -> TestClient:
    async def handle(inbound: Inbound) -> list[Outbound]:
        return await answer(inbound) or []

    async def handle_within(inbound: Inbound, budget: float) -> list[Outbound] | None:
        assert budget == 10.0  # the bot's reply_budget_seconds
        return await answer(inbound)

    context = ChannelContext(
        bot_ids=(BOT,),
        handle=handle,
        handle_within=handle_within if budgeted else None,
        mailbox=Mailbox(),
        settings={BOT: bot_settings(fake)},
    )
    return await webhook_client(aiohttp_client, channel, context)


def replying(*replies: Outbound) -> Answer:
    async def answer(inbound: Inbound) -> list[Outbound] | None:
        return list(replies)

    return answer


async def left_to_the_outbox(inbound: Inbound) -> list[Outbound] | None:
    return None


async def test_several_messages_arrive_in_order_the_last_in_the_response(
    aiohttp_client: MakeClient, channel: TelegramChannel, fake: FakeTelegram
) -> None:
    client = await mount(aiohttp_client, channel, fake, replying(Outbound(LONG), QUESTION), budgeted=False)

    response = await post_update(client, b.press(1, "human", (("human", "人工服务"),)))

    assert response.status == 200
    assert await response.json() == {
        "method": "sendMessage",
        "chat_id": CHAT,
        "text": "还需要什么帮助？",
        "reply_markup": KEYBOARD,
    }
    parts = split_text(LONG)
    assert len(parts) == 2
    # The button is answered first, then the parts go out before the response is even returned.
    assert [(call.method, call.params) for call in fake.calls] == [
        ("answerCallbackQuery", {"callback_query_id": "cq-1"}),
        ("sendMessage", {"chat_id": str(CHAT), "text": parts[0]}),
        ("sendMessage", {"chat_id": str(CHAT), "text": parts[1]}),
    ]


async def test_parts_sent_in_the_request_wait_out_a_429_and_keep_a_second_apart(
    aiohttp_client: MakeClient, channel: TelegramChannel, fake: FakeTelegram, vtime: VirtualTime
) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, after=1)
    fake.fail("sendMessage", 502, "Bad Gateway")
    client = await mount(
        aiohttp_client,
        channel,
        fake,
        replying(Outbound("一"), Outbound("二"), Outbound("三")),
        budgeted=False,
    )
    start = vtime.now

    response = await post_update(client, b.text(1, "你好"))

    assert (await response.json())["text"] == "三"
    assert [call.params["text"] for call in fake.called("sendMessage")] == ["一", "二", "二", "二"]
    # "一" at once; "二" a second later (429: retry after 3 s), at +4 s (502), at +5 s (the chat's next
    # second, which outlasts the 0.5 s backoff); "三" in the response a second after that.
    assert vtime.now - start == pytest.approx(6.0)


async def test_the_response_message_waits_for_its_turn_in_the_chat(
    aiohttp_client: MakeClient, channel: TelegramChannel, fake: FakeTelegram, vtime: VirtualTime
) -> None:
    client = await mount(aiohttp_client, channel, fake, replying(Outbound("好")), budgeted=False)
    assert (await channel.send(BOT, str(CHAT), Outbound("员工的答复"))).ok
    start = vtime.now

    await post_update(client, b.text(1, "谢谢"))

    assert vtime.now - start == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("update", "body"),
    [
        (b.text(1, "你好"), {}),
        (
            b.press(2, "menu", (("menu", "菜单"),)),
            {"method": "answerCallbackQuery", "callback_query_id": "cq-2"},
        ),
    ],
    ids=["message", "button"],
)
async def test_replies_left_to_the_outbox_are_not_sent_here(
    aiohttp_client: MakeClient,
    channel: TelegramChannel,
    fake: FakeTelegram,
    update: dict[str, object],
    body: dict[str, object],
) -> None:
    client = await mount(aiohttp_client, channel, fake, left_to_the_outbox, budgeted=True)

    response = await post_update(client, update)

    assert response.status == 200
    assert await response.json() == body
    assert fake.calls == []


async def test_no_reply_at_all_is_an_empty_response(
    aiohttp_client: MakeClient, channel: TelegramChannel, fake: FakeTelegram
) -> None:
    client = await mount(aiohttp_client, channel, fake, replying(), budgeted=True)
    response = await post_update(client, b.text(1, "你好"))
    assert await response.json() == {}
    assert fake.calls == []


@pytest.mark.parametrize(
    ("replies", "fits"),
    [
        ([], True),
        ([QUESTION], True),
        ([Outbound("x" * 4096, QUESTION.choices)], True),
        ([Outbound("一"), QUESTION], False),
        ([Outbound(LONG)], False),
        ([Outbound("   "), QUESTION], True),  # nothing to show in the first
    ],
    ids=["none", "one", "one-at-the-limit", "two", "too-long", "blank-and-one"],
)
def test_what_fits_the_webhook_response(replies: list[Outbound], fits: bool) -> None:
    assert TelegramChannel.fits_inline(replies) is fits
