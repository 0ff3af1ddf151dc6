"""Budgeted handling (WeChat's 5 s, Telegram's webhook): every reply leaves exactly one way."""

from __future__ import annotations

from sqlalchemy import select

from bots.pipeline import Pipeline, Services
from core.messages import Capabilities, Inbound
from storage.models import OutboxMessage

PLAIN = Capabilities()


def hello(message_id: str = "m1", text: str = "你好") -> Inbound:
    return Inbound(channel="wechat", bot_id="county", sender="openid-1", message_id=message_id, text=text)


async def outbox_rows(services: Services) -> list[tuple[str, bool]]:
    async with services.database.reading() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        return [(row.status, row.inline) for row in rows]


async def test_replies_ready_within_the_budget_go_in_the_response(
    pipeline: Pipeline, services: Services
) -> None:
    replies = await pipeline.handle_within(hello(), PLAIN, budget=30)

    assert replies is not None and "阳光县政务服务" in replies[0].text
    assert await outbox_rows(services) == [("sent", True)]


async def test_replies_the_channel_cannot_carry_are_left_to_the_outbox(
    pipeline: Pipeline, services: Services
) -> None:
    replies = await pipeline.handle_within(hello(), PLAIN, budget=30, inline_if=lambda replies: False)

    assert replies is None
    assert await outbox_rows(services) == [("pending", False)]


async def test_a_replay_gets_the_inline_answer_again_and_writes_nothing(
    pipeline: Pipeline, services: Services
) -> None:
    first = await pipeline.handle_within(hello(), PLAIN, budget=30)
    again = await pipeline.handle_within(hello(), PLAIN, budget=30)

    assert again == first
    assert await outbox_rows(services) == [("sent", True)]


async def test_a_replay_of_an_answer_sent_by_api_answers_nothing_inline(
    pipeline: Pipeline, services: Services
) -> None:
    await pipeline.handle_within(hello(), PLAIN, budget=30, inline_if=lambda replies: False)

    assert await pipeline.handle_within(hello(), PLAIN, budget=30) is None
    assert await outbox_rows(services) == [("pending", False)]


async def test_a_step_slower_than_the_budget_finishes_into_the_outbox(
    pipeline: Pipeline, services: Services
) -> None:
    assert await pipeline.handle_within(hello(), PLAIN, budget=0) is None
    # The step goes on after the platform got its answer; its replies wait for the dispatcher.
    assert await pipeline.handle(hello("m2", "菜单"), PLAIN, inline=True)  # waits for the first: same sender
    rows = await outbox_rows(services)
    assert rows[0] == ("pending", False)


async def test_a_step_slower_than_the_budget_is_stored_before_the_platform_is_answered(
    pipeline: Pipeline, services: Services
) -> None:
    # The platform takes its 2xx as "never send this again": a process killed right after answering
    # must not lose the message (the crash drill, tests/drills/crash.py, found WeChat losing them).
    assert await pipeline.handle_within(hello(), PLAIN, budget=0) is None

    assert await outbox_rows(services) == [("pending", False)]
