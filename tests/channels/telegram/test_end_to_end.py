"""A citizen on Telegram, end to end: webhook → real pipeline and engine → the reply in the webhook
response (or through the fake Bot API). An anonymous tip by buttons and typing, then a lookup with the
case number and password it gave; a redelivered update; a forged one. Run with the deployment giving
only `handle`, and with `handle_within` too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bots.pipeline import Services
from channels.telegram import TelegramChannel
from tests.channels.telegram import builders as b
from tests.channels.telegram.conftest import (
    MakeClient,
    Pipe,
    context_for,
    count_inbound,
    count_outbox,
    post_update,
    webhook_client,
)
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
async def client(
    aiohttp_client: MakeClient, channel: TelegramChannel, pipe: Pipe, fake: FakeTelegram, pipe_mode: str
) -> TestClient:
    return await webhook_client(aiohttp_client, channel, context_for(pipe, fake, pipe_mode))


class Citizen:
    """Someone in the Telegram app: types, presses the buttons shown, reads what arrives."""

    def __init__(self, client: TestClient, fake: FakeTelegram) -> None:
        self.client = client
        self.fake = fake
        self.update_id = 500
        self.buttons: list[tuple[str, str]] = []  # (key, label) under the last message
        self.seen = 0

    async def say(self, text: str) -> str:
        self.update_id += 1
        return await self._post(b.text(self.update_id, text))

    async def press(self, label: str) -> str:
        matching = [key for key, shown in self.buttons if shown == label]
        assert matching, f"no button {label!r} in {self.buttons}"
        self.update_id += 1
        return await self._post(b.press(self.update_id, matching[0], tuple(self.buttons)))

    async def _post(self, update: dict[str, Any]) -> str:
        response = await post_update(self.client, update)
        assert response.status == 200
        body = await response.json()
        messages = [call.params for call in self.fake.called("sendMessage")[self.seen :]]
        self.seen += len(messages)
        if body.get("method") == "sendMessage":
            messages.append(body)
        assert messages, f"no reply to {update}"
        markup = messages[-1].get("reply_markup") or {"inline_keyboard": []}
        self.buttons = [(row[0]["callback_data"], row[0]["text"]) for row in markup["inline_keyboard"]]
        return "\n".join(message["text"] for message in messages)


async def test_an_anonymous_tip_then_a_lookup(
    client: TestClient, fake: FakeTelegram, pipe: Pipe, services: Services
) -> None:
    citizen = Citizen(client, fake)

    assert "阳光县政务服务" in await citizen.say("/start")
    assert [label for _, label in citizen.buttons][:2] == ["投诉举报建议", "查询办理进度"]
    assert "举报的情况" in await citizen.say("举报")
    assert "已记下" in await citizen.say("村支书王某某把低保名额给了自己亲戚。")
    assert "已记下" in await citizen.say("他还收了村民的钱，每户两百元。")
    assert "哪个部门" in await citizen.press("完成")
    assert "匿名" in await citizen.press("不知道")
    summary = await citizen.press("匿名举报")
    assert "身份：匿名" in summary and "请核对" in summary
    done = await citizen.press("确认提交")

    number = re.search(r"案件编号：([\d-]+)", done)
    password = re.search(r"查询密码：(\d+)", done)
    assert number and password, done
    assert await count_outbox(services, "pending") == 0  # every reply went out inline

    await citizen.say("菜单")
    assert "12位案件编号" in await citizen.press("查询办理进度")
    assert "查询密码" in await citizen.say(number.group(1).replace("-", ""))
    status = await citizen.say(password.group(1))
    assert f"案件编号：{number.group(1)}" in status
    assert "办理状态" in status
    # Every button press was acknowledged, each once.
    answered = [call.params["callback_query_id"] for call in fake.called("answerCallbackQuery")]
    assert len(answered) == len(set(answered)) == sum(1 for i in pipe.inbound if i.choice)


async def test_a_redelivered_update_gets_the_same_answer_and_one_row(
    client: TestClient, fake: FakeTelegram, services: Services
) -> None:
    update = b.text(900, "你好")
    first = await post_update(client, update)
    again = await post_update(client, update)

    assert first.status == again.status == 200
    assert await first.json() == await again.json()
    assert (await first.json())["method"] == "sendMessage"
    assert await count_inbound(services) == 1
    assert fake.called("sendMessage") == []


async def test_a_redelivered_button_press_is_answered_again_but_handled_once(
    client: TestClient, fake: FakeTelegram, services: Services
) -> None:
    await post_update(client, b.text(900, "你好"))
    press = b.press(901, "submit", (("submit", "投诉举报建议"),))
    first = await (await post_update(client, press)).json()
    again = await (await post_update(client, press)).json()

    assert first == again
    assert await count_inbound(services) == 2


async def test_a_forged_update_is_refused_and_leaves_no_trace(
    client: TestClient, fake: FakeTelegram, services: Services
) -> None:
    response = await post_update(client, b.text(900, "举报"), secret="forged-secret-0123456789abc")

    assert response.status == 403
    assert await count_inbound(services) == 0
    assert await count_outbox(services) == 0
    assert fake.calls == []
