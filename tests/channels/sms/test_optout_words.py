"""STOP / START / YES / HELP over real webhooks: the answer, the opt-out row, and no conversation touched."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from channels.sms import texts
from core import optout
from storage.models import Conversation, InboundMessage, OptOut, OutboxMessage
from tests.channels.sms.conftest import CITIZEN, Harness, message, messages_of, new_sid

STOPPED = {lang: texts.text(lang, "sms.stopped") for lang in texts.LANGUAGES}
STARTED = {lang: texts.text(lang, "sms.started") for lang in texts.LANGUAGES}
HELP = {lang: texts.text(lang, "sms.help") for lang in texts.LANGUAGES}
PIPELINE = object()  # the message went to the conversation: a reply from the engine, not the channel


@dataclass(frozen=True)
class Exchange:
    name: str
    said: tuple[str, ...]
    answers: tuple[object, ...]  # a channel text, or PIPELINE
    opted_out: bool
    inbound_rows: int


EXCHANGES = [
    Exchange("STOP", ("STOP",), (STOPPED["en"],), True, 0),
    Exchange("退订 in Chinese", ("退订",), (STOPPED["zh_Hans"],), True, 0),
    Exchange("TD, full-width", ("ＴＤ",), (STOPPED["zh_Hans"],), True, 0),
    Exchange("退訂 in traditional characters", ("退訂",), (STOPPED["zh_Hant"],), True, 0),
    Exchange("lower case with punctuation", (" unsubscribe! ",), (STOPPED["en"],), True, 0),
    Exchange("STOP inside a sentence is a message", ("请不要STOP我的补贴",), (PIPELINE,), False, 1),
    Exchange("STOP then START", ("STOP", "START"), (STOPPED["en"], STARTED["en"]), False, 0),
    Exchange("STOP then UNSTOP", ("退订", "UNSTOP"), (STOPPED["zh_Hans"], STARTED["en"]), False, 0),
    Exchange("STOP then YES re-subscribes", ("STOP", "yes"), (STOPPED["en"], STARTED["en"]), False, 0),
    Exchange("YES from a subscribed number is an answer", ("YES",), (PIPELINE,), False, 1),
    Exchange("START from a subscribed number", ("START",), (STARTED["en"],), False, 0),
    Exchange("HELP", ("HELP",), (HELP["en"],), False, 0),
    Exchange("STOP twice", ("STOP", "stop"), (STOPPED["en"], STOPPED["en"]), True, 0),
    Exchange("a survey grade is never a keyword", ("1",), (PIPELINE,), False, 1),
]


@pytest.mark.parametrize("case", EXCHANGES, ids=lambda case: case.name)
async def test_keywords(sms: Harness, case: Exchange) -> None:
    for said, expected in zip(case.said, case.answers, strict=True):
        replies = await sms.say(said)
        if expected is PIPELINE:
            assert replies and all(reply not in (*STOPPED.values(), *STARTED.values()) for reply in replies)
        else:
            assert replies == [expected]

    async with sms.backend() as b:
        assert await optout.is_opted_out(b, "county", "sms", CITIZEN) is case.opted_out
    assert await sms.count(InboundMessage) == case.inbound_rows
    if case.inbound_rows == 0:
        assert await sms.count(Conversation) == 0  # no conversation was started
        assert await sms.count(OutboxMessage) == 0


async def test_help_writes_nothing(sms: Harness) -> None:
    await sms.say("HELP")
    assert await sms.count(OptOut) == 0


async def test_the_number_is_stored_only_as_a_keyed_hash(sms: Harness) -> None:
    await sms.say("STOP")
    async with sms.backend() as b:
        [row] = (await b.session.scalars(select(OptOut))).all()
        assert row.address_hash == b.keyring.lookup_hash("address", f"sms:{CITIZEN}")
        assert (row.bot_id, row.channel, row.opted_out, row.source) == ("county", "sms", True, "keyword")
        assert CITIZEN not in repr(row.model_dump())
        assert CITIZEN.lstrip("+") not in repr(row.model_dump())


async def test_a_keyword_does_not_disturb_a_conversation(sms: Harness) -> None:
    await sms.say("举报")
    async with sms.backend() as b:
        before = (await b.session.scalars(select(Conversation))).one().state

    assert await sms.say("STOP") == [STOPPED["en"]]
    assert await sms.say("HELP") == [HELP["en"]]

    async with sms.backend() as b:
        assert (await b.session.scalars(select(Conversation))).one().state == before
    # The tip goes on where it was: the next message is taken as its description.
    [reply] = await sms.say("村支书王某某把低保名额给了自己亲戚。")
    assert "完成" in reply
    assert await sms.count(InboundMessage) == 2


async def test_a_keyword_with_a_photo_is_an_ordinary_message(sms: Harness) -> None:
    form = {"NumMedia": "1", "MediaUrl0": "https://media.example/1.jpg", "MediaContentType0": "image/jpeg"}

    response = await sms.post(message("STOP", **form))
    assert response.status == 200
    assert messages_of(await response.text()) != [STOPPED["en"]]
    assert await sms.count(InboundMessage) == 1


async def test_a_retried_keyword_answers_the_same_and_changes_nothing(sms: Harness) -> None:
    stop, start = new_sid(), new_sid()
    assert await sms.say("STOP", sid=stop) == [STOPPED["en"]]
    assert await sms.say("START", sid=start) == [STARTED["en"]]

    # Twilio retries the STOP late: same answer, and the later START still stands.
    assert await sms.say("STOP", sid=stop) == [STOPPED["en"]]
    async with sms.backend() as b:
        assert not await optout.is_opted_out(b, "county", "sms", CITIZEN)
        [row] = (await b.session.scalars(select(OptOut))).all()
        assert row.keyword_messages == [[stop, "out"], [start, "in"]]


async def test_a_retried_yes_is_still_the_re_subscription(sms: Harness) -> None:
    yes = new_sid()
    await sms.say("STOP")
    assert await sms.say("YES", sid=yes) == [STARTED["en"]]

    # Now subscribed, a fresh YES would go to the conversation; the retry of this one must not.
    assert await sms.say("YES", sid=yes) == [STARTED["en"]]
    assert await sms.count(InboundMessage) == 0
    assert await sms.count(Conversation) == 0


async def test_opt_outs_are_per_number(sms: Harness) -> None:
    other = "+8613900139000"
    await sms.say("STOP", sender=CITIZEN)
    async with sms.backend() as b:
        assert await optout.is_opted_out(b, "county", "sms", CITIZEN)
        assert not await optout.is_opted_out(b, "county", "sms", other)
