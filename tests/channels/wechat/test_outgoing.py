"""Outgoing messages, as a table: an Outbound → the exact request the fake WeChat API receives, and the
fake's answers → the Delivery the outbox acts on.

The fake runs on this test's event loop: a send() that blocked the loop instead of running wechatpy in a
worker thread would never get its answer.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import pytest

from channels.base import ChannelContext, Delivery
from channels.wechat import WeChatChannel
from core.messages import Choice, Outbound
from tests.channels.wechat.conftest import BOT, NoMailbox, account_settings
from tests.channels.wechat.wire import OPENID
from tests.fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChatApi


def channel_for(api_base: str) -> WeChatChannel:
    channel = WeChatChannel()

    async def unused(inbound: object) -> list[Outbound]:
        raise AssertionError("sending never handles messages")

    channel.configure(
        ChannelContext(
            bot_ids=(BOT,),
            handle=unused,  # type: ignore[arg-type]
            mailbox=NoMailbox(),
            settings={BOT: account_settings(api_base, api_timeout_seconds=5)},
        )
    )
    return channel


def custom_send(content: str, openid: str = OPENID) -> dict[str, object]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


@dataclass(frozen=True)
class Outgoing:
    name: str
    message: Outbound
    delivery: Delivery
    sent: list[dict[str, object]]  # the JSON bodies the custom-send endpoint received, in order
    errors: list[tuple[int, str]] = field(default_factory=list)  # (errcode, errmsg) answers queued
    http: tuple[int, str] | None = None  # an HTTP answer queued instead


OUTGOING = [
    Outgoing("text", Outbound("您的件已受理。"), Delivery(ok=True), [custom_send("您的件已受理。")]),
    Outgoing(
        "choices become numbered lines",
        Outbound("请评价：", (Choice("5", "满意"), Choice("1", "不满意"))),
        Delivery(ok=True),
        [custom_send("请评价：\n1 满意\n2 不满意")],
    ),
    Outgoing(
        "45015: outside the 48-hour window, undeliverable",
        Outbound("答复"),
        Delivery(ok=False, error="45015 response out of time limit or subscription is canceled", retry=False),
        [custom_send("答复")],
        errors=[(45015, "response out of time limit or subscription is canceled")],
    ),
    Outgoing(
        "45047: customer-service quota used up, undeliverable",
        Outbound("答复"),
        Delivery(ok=False, error="45047 out of response count limit", retry=False),
        [custom_send("答复")],
        errors=[(45047, "out of response count limit")],
    ),
    Outgoing(
        "43004: the citizen unfollowed",
        Outbound("答复"),
        Delivery(ok=False, error="43004 require subscribe", retry=False),
        [custom_send("答复")],
        errors=[(43004, "require subscribe")],
    ),
    Outgoing(
        "-1: system busy, retry",
        Outbound("答复"),
        Delivery(ok=False, error="-1 system error", retry=True),
        [custom_send("答复")],
        errors=[(-1, "system error")],
    ),
    Outgoing(
        "45009: daily API quota, retry later",
        Outbound("答复"),
        Delivery(ok=False, error="45009 reach max api daily quota limit", retry=True, retry_after=600.0),
        [custom_send("答复")],
        errors=[(45009, "reach max api daily quota limit")],
    ),
    Outgoing(
        "HTTP 500, retry",
        Outbound("答复"),
        Delivery(ok=False, error="HTTP 500", retry=True),
        [custom_send("答复")],
        http=(500, "Internal Server Error"),
    ),
    Outgoing(
        "HTTP 200 that is not JSON, retry",
        Outbound("答复"),
        Delivery(ok=False, error="the answer was not JSON", retry=True),
        [custom_send("答复")],
        http=(200, "<html>gateway</html>"),
    ),
    Outgoing(
        "a token refused twice in a row: one refresh only, then retry later",
        Outbound("答复"),
        Delivery(ok=False, error="40001 invalid credential", retry=True),
        [custom_send("答复"), custom_send("答复")],
        errors=[(40001, "invalid credential"), (40001, "invalid credential")],
    ),
]


@pytest.mark.parametrize("case", OUTGOING, ids=lambda case: case.name)
async def test_outgoing(case: Outgoing, fake_api: FakeWeChatApi) -> None:
    for errcode, errmsg in case.errors:
        fake_api.fail_next(errcode, errmsg)
    if case.http is not None:
        fake_api.answer_next(*case.http)
    channel = channel_for(fake_api.api_base)

    delivery = await channel.send(BOT, OPENID, case.message)

    assert delivery == case.delivery
    assert fake_api.sent == case.sent
    [first_fetch, *_] = fake_api.calls("/cgi-bin/token")
    assert first_fetch.query == {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    assert fake_api.calls("/cgi-bin/message/custom/send")[0].query == {"access_token": "TOKEN-1"}


async def test_the_body_is_utf8_json_and_the_token_is_fetched_once(fake_api: FakeWeChatApi) -> None:
    channel = channel_for(fake_api.api_base)

    assert await channel.send(BOT, OPENID, Outbound("第一条")) == Delivery(ok=True)
    assert await channel.send(BOT, OPENID, Outbound("第二条")) == Delivery(ok=True)

    assert [r.path for r in fake_api.requests] == [
        "/cgi-bin/token",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/message/custom/send",
    ]
    first = fake_api.calls("/cgi-bin/message/custom/send")[0]
    assert first.method == "POST"
    # Chinese as UTF-8, not \u escapes: WeChat counts the bytes it receives.
    assert "第一条".encode() in first.body


async def test_an_expired_token_is_refreshed_once_within_the_same_send(fake_api: FakeWeChatApi) -> None:
    channel = channel_for(fake_api.api_base)
    assert await channel.send(BOT, OPENID, Outbound("一")) == Delivery(ok=True)
    fake_api.expire_token()  # two hours later, or another process fetched a new one

    assert await channel.send(BOT, OPENID, Outbound("二")) == Delivery(ok=True)

    assert [(r.path, r.query.get("access_token")) for r in fake_api.requests] == [
        ("/cgi-bin/token", None),
        ("/cgi-bin/message/custom/send", "TOKEN-1"),
        ("/cgi-bin/message/custom/send", "TOKEN-1"),  # refused: 42001
        ("/cgi-bin/token", None),
        ("/cgi-bin/message/custom/send", "TOKEN-2"),
    ]
    assert fake_api.sent == [custom_send("一"), custom_send("二"), custom_send("二")]


async def test_a_message_over_2048_bytes_goes_out_in_parts_split_at_line_ends(
    fake_api: FakeWeChatApi,
) -> None:
    lines = [f"第{i:03d}行：" + "内容" * 20 for i in range(40)]  # about 5 KB
    channel = channel_for(fake_api.api_base)

    assert await channel.send(BOT, OPENID, Outbound("\n".join(lines))) == Delivery(ok=True)

    parts = [body["text"]["content"] for body in fake_api.sent]
    assert len(parts) == 3
    assert all(len(part.encode()) <= 2048 for part in parts)
    assert "\n".join(parts).splitlines() == lines  # nothing lost, nothing cut inside a line


async def test_a_failure_after_the_first_part_says_so(fake_api: FakeWeChatApi) -> None:
    channel = channel_for(fake_api.api_base)
    fake_api.answer_next(200, '{"errcode": 0, "errmsg": "ok"}')
    fake_api.fail_next(45047, "out of response count limit")

    delivery = await channel.send(BOT, OPENID, Outbound("长" * 1000))

    assert delivery == Delivery(
        ok=False, error="45047 out of response count limit (after 1 of 2 parts)", retry=False
    )


async def test_an_unreachable_api_is_retried(fake_api: FakeWeChatApi) -> None:
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = channel_for(f"http://127.0.0.1:{port}/cgi-bin/")

    delivery = await channel.send(BOT, OPENID, Outbound("答复"))

    assert delivery == Delivery(ok=False, error="network: ConnectionError", retry=True)


@pytest.mark.parametrize(
    ("bot", "address", "message", "error"),
    [
        ("elsewhere", OPENID, Outbound("x"), "no WeChat account configured for bot 'elsewhere'"),
        (BOT, "+8613800138000", Outbound("x"), "the address is not an openid"),
        (BOT, OPENID, Outbound("  "), "empty message"),
    ],
    ids=["bot without an account", "not an openid", "empty"],
)
async def test_what_cannot_be_sent_is_not_tried(
    bot: str, address: str, message: Outbound, error: str, fake_api: FakeWeChatApi
) -> None:
    channel = channel_for(fake_api.api_base)
    assert await channel.send(bot, address, message) == Delivery(ok=False, error=error, retry=False)
    assert fake_api.requests == []
