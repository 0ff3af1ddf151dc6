"""Buttons: a stale or foreign button key never swallows what its words say."""

from __future__ import annotations

from bots.pipeline import Pipeline
from core.messages import Capabilities, Inbound

BUTTONS = Capabilities(buttons=True)


async def say(pipeline: Pipeline, n: int, text: str, choice: str | None = None) -> list[str]:
    inbound = Inbound(
        channel="webchat", bot_id="county", sender="s1", message_id=f"m{n}", text=text, choice=choice
    )
    return [reply.text for reply in await pipeline.handle(inbound, BUTTONS, inline=True)]


async def test_a_button_key_not_offered_is_read_as_its_words(pipeline: Pipeline) -> None:
    greeting = await say(pipeline, 1, "你好")
    assert "请回复数字选择您要办理的事项" in greeting[0]

    # A platform menu click (WeChat) or an old button arrives with a key the last reply did not offer.
    replies = await say(pipeline, 2, "查询进度", choice="lookup-from-an-old-menu")

    assert replies == ["请回复12位案件编号（提交成功时发给您的）："]


async def test_an_offered_button_key_wins_over_its_label(pipeline: Pipeline) -> None:
    await say(pipeline, 1, "你好")
    replies = await say(pipeline, 2, "whatever the label says", choice="lookup")
    assert replies == ["请回复12位案件编号（提交成功时发给您的）："]
