"""Replay drill (issue 8, part 2): every channel's webhook delivered 2, 3 and 5 times, one after another
and all at once, gives one inbound row, one case, one set of replies and the same answer every time.

The message replayed is the one that matters most: the "1" that confirms a petition. A retry that
submitted twice would open two cases and show two different query passwords.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from storage.models import Case, InboundMessage, OutboxMessage
from tests.drills.conftest import CHANNELS, SENDERS, WIRES, Answer, Drill

# A suggestion to one department: the shortest path to the confirmation on every channel.
TO_CONFIRMATION = ["建议", "希望村里的公交车多开一班，早上七点前还有一班车。", "完成", "县交通运输局"]
PASSWORD = re.compile(r"密码[:：]?\s*(\d{8})")


async def reach_confirmation(drill: Drill, channel: str, sender: str) -> None:
    for words in TO_CONFIRMATION:
        replies = await drill.say(channel, words, sender=sender)
    assert any("请核对" in reply or "核对" in reply for reply in replies), replies


def comparable(channel: str, answer: Answer) -> tuple[int, object]:
    """What the citizen gets from one delivery. WeChat stamps its passive reply with the time and
    encrypts it with a fresh IV, so its decrypted text is compared; every other body byte for byte."""
    if channel == "wechat":
        return answer.status, WIRES[channel].replies(answer)
    return answer.status, answer.body


# Channels whose webhook answers within a budget and otherwise leaves the replies to the outbox. A copy
# arriving while the first delivery is still between its step and taking the replies for its response
# cannot know which of the two will deliver them; it acknowledges without a reply, and the citizen gets
# the answer once, from the first. Platforms do not send such overlapping copies (they wait for the
# response before retrying), but a proxy might.
BUDGETED = frozenset({"wechat", "telegram"})


def acknowledgement(channel: str, answer: Answer) -> bool:
    """The platform's "received, nothing to say" answer."""
    return channel in BUDGETED and answer.body in ("success", "{}")


@pytest.mark.parametrize("together", [False, True], ids=["one-after-another", "concurrently"])
@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_confirmation_delivered_again_and_again_submits_once(
    drill: Drill, channel: str, together: bool
) -> None:
    # One citizen per count, in one deployment: setting the app up costs more than the drill itself.
    for times in (2, 3, 5):
        await _deliver_confirmation(drill, channel, together, times)
    assert await drill.count(Case) == 3


async def _deliver_confirmation(drill: Drill, channel: str, together: bool, times: int) -> None:
    sender = _sender(channel, times)
    await reach_confirmation(drill, channel, sender)
    confirm = WIRES[channel].request(sender, "1", "confirm")
    inbound_before = await drill.count(InboundMessage)
    outbox_before = await drill.count(OutboxMessage)
    cases_before = await drill.count(Case)

    if together:
        answers = list(await asyncio.gather(*(drill.send(confirm) for _ in range(times))))
    else:
        answers = [await drill.send(confirm) for _ in range(times)]

    assert [answer.status for answer in answers] == [200] * times, answers
    full = [comparable(channel, answer) for answer in answers if not acknowledgement(channel, answer)]
    assert full and all(answer == full[0] for answer in full), answers
    if not together or channel not in BUDGETED:
        assert len(full) == times, answers
    assert await drill.count(InboundMessage) == inbound_before + 1
    assert await drill.count(Case) == cases_before + 1
    replies = await drill.replies_to(channel, sender, "confirm")
    assert len(_passwords(replies)) == 1, replies
    # The confirmation's replies were written once, whichever way they left (response or outbox).
    assert await drill.count(OutboxMessage) == outbox_before + len(replies)
    shown = [text for answer in answers for text in WIRES[channel].replies(answer)]
    assert len(_passwords(shown)) <= 1


def _sender(channel: str, n: int) -> str:
    """The channel's citizen number `n`, with an address of the platform's shape."""
    base = SENDERS[channel]
    return base[: -len(str(n))] + str(n)


def _passwords(replies: list[str]) -> set[str]:
    return {password for reply in replies for password in PASSWORD.findall(reply)}


@pytest.mark.parametrize("channel", CHANNELS)
async def test_replays_spread_over_a_conversation_change_nothing(drill: Drill, channel: str) -> None:
    """Each message of a whole conversation delivered twice in a row (a platform retrying everything):
    the conversation ends exactly where a single delivery of each message would have left it."""
    sender = SENDERS[channel]
    wire = WIRES[channel]
    for index, words in enumerate([*TO_CONFIRMATION, "1"]):
        request = wire.request(sender, words, f"twice-{index}")
        first, second = await drill.send(request), await drill.send(request)
        assert (first.status, second.status) == (200, 200)
        assert comparable(channel, first) == comparable(channel, second)

    assert await drill.count(InboundMessage) == len(TO_CONFIRMATION) + 1
    assert await drill.count(Case) == 1
    [case] = await _cases(drill)
    assert (case.kind, case.department) == ("suggestion", "县交通运输局")


async def _cases(drill: Drill) -> list[Case]:
    async with drill.services.database.reading() as session:
        return list((await session.execute(select(Case))).scalars())
