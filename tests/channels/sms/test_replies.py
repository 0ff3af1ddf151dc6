"""Replies as SMS bodies and TwiML: joined when that costs no more, cut when too long, always valid XML."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels.sms import SmsChannel
from channels.sms.replies import MAX_SEGMENTS, bodies, twiml
from channels.sms.segments import segments
from core.messages import Choice, Inbound, Outbound
from tests.channels.sms.conftest import (
    INBOUND_PATH,
    PUBLIC,
    MakeClient,
    context_for,
    message,
    messages_of,
    sign,
)

SMS = SmsChannel.capabilities
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def test_no_replies_is_an_empty_response() -> None:
    assert twiml([]) == EMPTY
    assert messages_of(twiml([])) == []


def test_each_body_is_one_message_element_with_markup_escaped() -> None:
    document = twiml(["a < b & c", "第二条"])
    assert "&lt;" in document and "&amp;" in document
    assert messages_of(document) == ["a < b & c", "第二条"]


def test_choices_are_numbered_on_one_line() -> None:
    reply = Outbound("请回复数字：", choices=(Choice("tip", "举报"), Choice("lookup", "查进度")))
    assert bodies([reply], SMS) == ["请回复数字：\n1 举报 2 查进度"]


def test_characters_xml_cannot_carry_are_dropped() -> None:
    [body] = bodies([Outbound("编号\x00：\x0b123\ufffe4")], SMS)
    assert body == "编号：1234"
    assert messages_of(twiml([body])) == ["编号：1234"]


def test_replies_are_joined_when_that_costs_no_more() -> None:
    assert bodies([Outbound("已记下。"), Outbound("说完请回复“完成”。")], SMS) == [
        "已记下。\n说完请回复“完成”。"
    ]
    apart = [Outbound("中" * 70), Outbound("文" * 70)]
    assert bodies(apart, SMS) == ["中" * 70, "文" * 70]


def test_a_long_reply_is_cut_into_bodies_of_at_most_ten_segments() -> None:
    line = "经核查，已取消相关人员低保资格，并对王某某立案调查，处理结果将在村务公开栏公示。"
    text = "\n".join([line] * 30)
    parts = bodies([Outbound(text)], SMS)
    assert len(parts) > 1
    assert all(segments(part) <= MAX_SEGMENTS and len(part) <= 1600 for part in parts)
    assert "\n".join(parts) == text


async def test_a_message_with_no_replies_gets_an_empty_response(
    aiohttp_client: MakeClient, pipeline: Any, services: Any, sms_settings: dict[str, Any]
) -> None:
    async def nothing(inbound: Inbound) -> list[Outbound]:
        return []

    channel = SmsChannel()
    app = web.Application()
    app.add_routes(channel.routes(context_for(channel, pipeline, services, sms_settings, handle=nothing)))
    client = await aiohttp_client(app)
    form = message("你好")

    response = await client.post(
        INBOUND_PATH, data=form, headers={"X-Twilio-Signature": sign(PUBLIC + INBOUND_PATH, form)}
    )

    assert response.status == 200
    assert response.content_type == "text/xml"
    assert await response.text() == EMPTY
