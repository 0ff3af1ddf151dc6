"""Answers too long for one passive reply go by the customer-service API, split at line ends."""

from channels.wechat import WeChatChannel
from core.messages import Choice, Outbound


def test_a_short_answer_with_choices_fits_the_passive_reply() -> None:
    choices = (Choice("lookup", "查询办理进度"), Choice("human", "人工服务"))
    menu = Outbound("请回复数字选择：", choices=choices)
    assert WeChatChannel().fits_inline([menu, Outbound("已记下。")])


def test_an_answer_over_2048_bytes_does_not() -> None:
    long_list = Outbound("\n".join(f"{n}. 耕地地力保护补贴 2025年 ¥1,234.56 已发放" for n in range(1, 60)))
    assert len(long_list.text.encode()) > 2048
    assert not WeChatChannel().fits_inline([long_list])
