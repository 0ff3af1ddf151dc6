"""Outgoing: an Outbound through `send()` → the exact request the fake Bot API gets; errors → the Delivery."""

from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass
from typing import Any

import pytest

from channels.base import ChannelContext, Delivery
from channels.telegram import TelegramChannel
from channels.telegram.keyboards import MAX_TEXT, split_text, utf16_len
from core.messages import Choice, Outbound
from tests.channels.telegram.conftest import BOT, CHAT, TOKEN, Mailbox, VirtualTime, bot_settings
from tests.fakes.telegram_api import FakeTelegram

YES_NO = (Choice("yes", "是"), Choice("no", "否"))


def buttons(*choices: Choice) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": c.label, "callback_data": c.key}] for c in choices]}


@dataclass(frozen=True)
class Out:
    name: str
    message: Outbound
    requests: list[dict[str, Any]]  # the sendMessage parameters Telegram receives, in order


LONG_LINES = [f"第{i:03d}行：" + "办理进度说明" * 30 for i in range(40)]  # 40 lines of ~186 characters
LONG = "\n".join(LONG_LINES)
CUT = split_text(LONG)

OUTGOING = [
    Out("plain text", Outbound("您好"), [{"chat_id": str(CHAT), "text": "您好"}]),
    Out(
        "markup characters are sent as typed, without parse_mode",
        Outbound("<b>粗体</b> *星号* _下划线_ [链接](http://x) & 1 < 2"),
        [{"chat_id": str(CHAT), "text": "<b>粗体</b> *星号* _下划线_ [链接](http://x) & 1 < 2"}],
    ),
    Out(
        "choices become an inline keyboard, keys as callback data",
        Outbound("请确认：", YES_NO),
        [{"chat_id": str(CHAT), "text": "请确认：", "reply_markup": buttons(*YES_NO)}],
    ),
    Out(
        "a long text is cut at line breaks, the keyboard under the last part",
        Outbound(LONG, YES_NO),
        [
            {"chat_id": str(CHAT), "text": CUT[0]},
            {"chat_id": str(CHAT), "text": CUT[1], "reply_markup": buttons(*YES_NO)},
        ],
    ),
    Out(
        "a key too long for callback data: numbered lines instead",
        Outbound("请选择：", (Choice("k" * 65, "甲"), Choice("b", "乙"))),
        [{"chat_id": str(CHAT), "text": "请选择：\n1 甲\n2 乙"}],
    ),
    Out(
        "buttons with no text above them",
        Outbound("", (Choice("human", "人工服务"),)),
        [{"chat_id": str(CHAT), "text": "👇", "reply_markup": buttons(Choice("human", "人工服务"))}],
    ),
]


@pytest.mark.parametrize("case", OUTGOING, ids=[case.name for case in OUTGOING])
async def test_outgoing(case: Out, channel: TelegramChannel, fake: FakeTelegram) -> None:
    delivery = await channel.send(BOT, str(CHAT), case.message)

    assert delivery.ok, delivery
    sent = fake.called("sendMessage")
    assert [call.params for call in sent] == case.requests
    assert {call.token for call in sent} == {TOKEN}
    assert delivery.provider_message_id == str(999 + len(sent))  # the fake counts from 1000


def test_the_long_case_really_is_cut_where_lines_end() -> None:
    assert len(CUT) == 2
    assert all(utf16_len(part) <= MAX_TEXT for part in CUT)
    assert "\n".join(CUT) == LONG
    assert CUT[0].split("\n")[-1] in LONG_LINES


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 4096, ["a" * 4096]),
        ("a" * 4097, ["a" * 4096, "a"]),
        ("😀" * 2048, ["😀" * 2048]),  # an emoji is two UTF-16 units, as Telegram counts
        ("😀" * 2049, ["😀" * 2048, "😀"]),
        ("x" * 4095 + "😀", ["x" * 4095, "😀"]),  # never half an emoji
        ("line1\n" + "b" * 4095, ["line1", "b" * 4095]),
        ("", [""]),
    ],
    ids=["exact", "one-over", "emoji-exact", "emoji-over", "no-split-pair", "line-boundary", "empty"],
)
def test_split_text(text: str, parts: list[str]) -> None:
    assert split_text(text) == parts


async def test_a_message_with_nothing_to_show_sends_nothing(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    assert await channel.send(BOT, str(CHAT), Outbound("  \n ")) == Delivery(ok=True)
    assert fake.calls == []


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class Err:
    name: str
    status: int
    description: str
    retry_after: int | None
    delivery: Delivery


ERRORS = [
    Err(
        "429 with retry_after",
        429,
        "Too Many Requests: retry after 7",
        7,
        Delivery(ok=False, error="rate limited by telegram: retry after 7s", retry=True, retry_after=7.0),
    ),
    Err(
        "500",
        500,
        "Internal Server Error",
        None,
        Delivery(ok=False, error="telegram server error: Internal Server Error", retry=True),
    ),
    Err(
        "502",
        502,
        "Bad Gateway",
        None,
        Delivery(ok=False, error="telegram server error: Bad Gateway", retry=True),
    ),
    Err(
        "403 blocked",
        403,
        "Forbidden: bot was blocked by the user",
        None,
        Delivery(ok=False, error="telegram 403: Forbidden: bot was blocked by the user", retry=False),
    ),
    Err(
        "400 chat not found",
        400,
        "Bad Request: chat not found",
        None,
        Delivery(ok=False, error="telegram 400: Bad Request: chat not found", retry=False),
    ),
    Err(
        "401 revoked token: waits for the operator",
        401,
        "Unauthorized",
        None,
        Delivery(ok=False, error="telegram TelegramUnauthorizedError: Unauthorized", retry=True),
    ),
]


@pytest.mark.parametrize("case", ERRORS, ids=[case.name for case in ERRORS])
async def test_errors(case: Err, channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", case.status, case.description, retry_after=case.retry_after)

    delivery = await channel.send(BOT, str(CHAT), Outbound("您好"))

    assert delivery == case.delivery
    assert str(CHAT) not in (delivery.error or "")


async def test_a_429_makes_the_chat_wait_before_the_next_message(
    channel: TelegramChannel, fake: FakeTelegram, vtime: VirtualTime
) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
    assert (await channel.send(BOT, str(CHAT), Outbound("一"))).retry_after == 5.0
    start = vtime.now

    assert (await channel.send(BOT, str(CHAT), Outbound("一"))).ok
    assert vtime.now - start == pytest.approx(5.0)


async def test_an_unreachable_api_is_a_transient_failure(fake: FakeTelegram) -> None:
    settings = {BOT: bot_settings(fake, api_timeout_seconds=5)}
    await fake.close()  # nothing listens on its port any more
    telegram = TelegramChannel()
    telegram.configure(ChannelContext(bot_ids=(BOT,), handle=_never, mailbox=Mailbox(), settings=settings))
    try:
        delivery = await telegram.send(BOT, str(CHAT), Outbound("您好"))
    finally:
        await telegram.close()
    assert delivery == Delivery(ok=False, error="network error reaching telegram", retry=True)


async def test_a_retry_of_a_partly_sent_message_continues_after_the_parts_that_arrived(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    message = Outbound(LONG, YES_NO)
    fake.fail("sendMessage", 502, "Bad Gateway", after=1)  # the first part arrives, the second not yet
    first = await channel.send(BOT, str(CHAT), message)
    assert not first.ok and first.retry

    second = await channel.send(BOT, str(CHAT), message)

    assert second.ok
    texts = [call.params["text"] for call in fake.called("sendMessage")]
    assert texts == [CUT[0], CUT[1], CUT[1]]  # part 1 once, part 2 tried twice

    # Delivered whole: the same text later is a new message, sent from its start.
    assert (await channel.send(BOT, str(CHAT), message)).ok
    assert [call.params["text"] for call in fake.called("sendMessage")][3:] == [CUT[0], CUT[1]]


async def test_a_refused_part_forgets_the_progress(channel: TelegramChannel, fake: FakeTelegram) -> None:
    message = Outbound(LONG)
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", after=1)
    assert (await channel.send(BOT, str(CHAT), message)).retry is False
    assert (await channel.send(BOT, str(CHAT), message)).ok
    assert [call.params["text"] for call in fake.called("sendMessage")] == [CUT[0], CUT[1], CUT[0], CUT[1]]


@pytest.mark.parametrize("address", ["", "abc", "12a", "+8613800138000", "1" * 21, "٣٤"])
async def test_an_address_that_is_no_chat_id_is_undeliverable(
    channel: TelegramChannel, fake: FakeTelegram, address: str
) -> None:
    delivery = await channel.send(BOT, address, Outbound("您好"))
    assert delivery == Delivery(ok=False, error="not a telegram chat id", retry=False)
    assert fake.calls == []


async def test_a_bot_without_settings_keeps_its_rows_waiting(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    delivery = await channel.send("other", str(CHAT), Outbound("您好"))
    assert (delivery.ok, delivery.retry) == (False, True)
    assert fake.calls == []


async def test_sessions_close_cleanly(fake: FakeTelegram) -> None:
    telegram = TelegramChannel()
    settings = {BOT: bot_settings(fake)}
    telegram.configure(ChannelContext(bot_ids=(BOT,), handle=_never, mailbox=Mailbox(), settings=settings))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (await telegram.send(BOT, str(CHAT), Outbound("您好"))).ok
        session = telegram.clients.bot(BOT).session
        await telegram.close()
        gc.collect()
    assert session._session is not None and session._session.closed
    assert not [w for w in caught if "Unclosed" in str(w.message)]
    assert telegram.clients._bots == {}


async def _never(inbound: Any) -> Any:
    raise AssertionError("not used")
