"""Whole conversations over the WeChat webhook, the real engine and database: a tip and its lookup,
retries of the same callback, and a step too slow for the passive reply (answered through the API)."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bots.dispatcher import Dispatcher
from bots.pipeline import Services
from conversations import engine
from core import outbox
from core.messages import render_text
from tests.channels.wechat.conftest import MakeWebhook, Webhook, count_inbound, outbox_rows
from tests.channels.wechat.wire import OPENID, Callback, encrypted, fields_of, plain, read_reply
from tests.fakes.wechat_api import FakeWeChatApi

CASE_NUMBER = re.compile(r"\d{4}-\d{4}-\d{4}")
PASSWORD = re.compile(r"密码\D{0,3}(\d{8})")


class Citizen:
    """One WeChat user typing into the official account (safe mode: everything encrypted)."""

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook
        self._ids: Iterator[int] = itertools.count(24417306311000001)

    def callback(self, text: str) -> Callback:
        return encrypted(fields_of("text", Content=text, MsgId=str(next(self._ids))))

    async def say(self, text: str) -> str:
        status, _, body = await self.webhook.post(self.callback(text))
        assert status == 200, body
        reply = read_reply(body)
        assert reply["ToUserName"] == OPENID
        return str(reply["Content"])


async def test_an_anonymous_tip_and_its_lookup(make_webhook: MakeWebhook, services: Services) -> None:
    citizen = Citizen(await make_webhook(mode="safe"))

    assert "1 完成" in await citizen.say("举报")
    await citizen.say("村里的垃圾站三个月没人清理，臭气熏天。")
    await citizen.say("地点在城关镇东街口，每天早上最严重。")
    await citizen.say("完成")  # asks for the department
    await citizen.say("城关镇")  # asks: anonymous or not
    summary = await citizen.say("匿名")
    assert "城关镇东街口" in summary and "1 " in summary  # the summary, with numbered choices to confirm
    receipt = await citizen.say("1")

    number = CASE_NUMBER.search(receipt)
    password = PASSWORD.search(receipt)
    assert number is not None and password is not None, receipt

    await citizen.say("查询")
    await citizen.say(number.group())
    status = await citizen.say(password.group(1))
    assert number.group() in status and "城关镇" in status
    assert await count_inbound(services) == 10


async def test_the_same_callback_twice_gets_the_same_passive_answer_and_one_row(
    make_webhook: MakeWebhook, services: Services
) -> None:
    webhook = await make_webhook(mode="safe")
    citizen = Citizen(webhook)
    callback = citizen.callback("举报")

    first = await webhook.post(callback)
    again = await webhook.post(callback)  # WeChat retries when it did not get our answer in time

    assert first[0] == again[0] == 200
    assert read_reply(first[2])["Content"] == read_reply(again[2])["Content"]
    assert webhook.handled.answers[0] == webhook.handled.answers[1]
    assert await count_inbound(services) == 1
    rows = await outbox_rows(services)
    assert rows and all(row.inline and row.status == "sent" for row in rows)


@pytest.fixture
def slow_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that takes longer than the bot's passive-reply budget."""
    step = engine.step

    async def slow(*args: Any) -> engine.Turn:
        await asyncio.sleep(0.4)
        return await step(*args)

    monkeypatch.setattr(engine, "step", slow)


async def dispatch_until_sent(services: Services, dispatcher: Dispatcher) -> int:
    """Runs the outbox dispatcher until the slow step has queued its replies and they went out."""
    for _ in range(100):
        sent = await dispatcher.run_once()
        if sent:
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError("the slow step never queued its replies")


@pytest.mark.usefixtures("slow_engine")
async def test_a_slow_step_answers_success_and_the_reply_goes_through_the_api(
    make_webhook: MakeWebhook, services: Services, fake_api: FakeWeChatApi
) -> None:
    webhook = await make_webhook(mode="safe", passive_budget_seconds=0.1)
    callback = Citizen(webhook).callback("你好")

    status, content_type, body = await webhook.post(callback)

    assert (status, content_type, body) == (200, "text/plain", "success")
    assert webhook.handled.answers == [None]
    dispatcher = Dispatcher(services, {"wechat": webhook.channel})
    assert await dispatch_until_sent(services, dispatcher) >= 1

    rows = await outbox_rows(services)
    replies = [outbox.outbound_of(services.keyring, row.payload) for row in rows]
    assert [(row.status, row.inline) for row in rows] == [("sent", False)] * len(rows)
    assert fake_api.sent == [
        {
            "touser": OPENID,
            "msgtype": "text",
            "text": {"content": render_text(r, webhook.channel.capabilities)},
        }
        for r in replies
    ]

    # WeChat's retry of that message: still "success", nothing new stored or sent.
    assert (await webhook.post(callback))[2] == "success"
    assert await count_inbound(services) == 1
    assert await dispatcher.run_once() == 0
    assert len(fake_api.sent) == len(replies)


@pytest.mark.usefixtures("slow_engine")
async def test_a_retry_arriving_while_the_first_delivery_is_still_working(
    make_webhook: MakeWebhook, services: Services, fake_api: FakeWeChatApi
) -> None:
    webhook = await make_webhook(mode="plain", passive_budget_seconds=0.1)
    retry = plain(fields_of("text", Content="你好", MsgId="24417306319999999"))

    first, second = await asyncio.gather(webhook.post(retry), webhook.post(retry))

    assert first[2] == second[2] == "success"
    await dispatch_until_sent(services, Dispatcher(services, {"wechat": webhook.channel}))
    assert await count_inbound(services) == 1
    rows = await outbox_rows(services)
    assert len(fake_api.sent) == len(rows)  # each reply once
