"""A villager on SMS: an anonymous tip, then a progress lookup with its number and password, all through
signed Twilio webhooks, the real pipeline and the database."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.clock import FixedClock
from storage.models import Case, InboundMessage
from tests.channels.sms.conftest import Harness, message, messages_of, new_sid


async def test_anonymous_tip_then_lookup_over_sms(sms: Harness) -> None:
    assert "举报" in (await sms.say("举报"))[0]
    assert "完成" in (await sms.say("村支书王某某把低保名额给了自己亲戚。"))[0]
    assert "完成" in (await sms.say("他还收了村民的钱，每户两百元。"))[0]
    assert "部门" in (await sms.say("完成"))[0]
    assert "匿名" in (await sms.say("县民政局"))[0]
    [summary] = await sms.say("匿名")
    assert "县民政局" in summary and "身份：匿名" in summary and "1 确认提交" in summary

    # A forged request in the middle of it changes nothing.
    rows_before = await sms.count(InboundMessage)
    forged = await sms.post(message("1"), signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.status == 403
    assert await sms.count(InboundMessage) == rows_before

    confirm = message("1", sid=new_sid())
    first = await sms.post(confirm)
    assert first.status == 200
    answer = await first.text()
    [submitted] = messages_of(answer)
    number = re.search(r"编号([0-9-]{12,14})", submitted)
    password = re.search(r"密码(\d{8})", submitted)
    assert number and password, submitted

    # Twilio delivers the confirmation again: the same TwiML, one inbound row, still one case.
    rows = await sms.count(InboundMessage)
    again = await sms.post(confirm)
    assert again.status == 200
    assert await again.text() == answer
    assert await sms.count(InboundMessage) == rows
    async with sms.backend() as b:
        [case] = (await b.session.scalars(select(Case))).all()
        assert (case.kind, case.anonymous, case.department) == ("tip", True, "县民政局")
        assert case.contact_enc is None and case.reporter_enc is None

    # The next day, the lookup with the number typed without dashes, then the password.
    clock = sms.services.clock
    assert isinstance(clock, FixedClock)
    clock.advance(days=1)
    assert "编号" in (await sms.say("查询"))[0]
    assert "密码" in (await sms.say(number.group(1).replace("-", "")))[0]
    [status] = await sms.say(password.group(1))
    assert number.group(1) in status
    assert "县民政局" in status
