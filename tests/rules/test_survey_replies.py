"""Replies to surveys, through the real pipeline: matched to the phone's latest open survey, politely
turned away after expiry, correctable for a few minutes; and the question after a case closes."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bots import surveys as bot_surveys
from bots.imitation import SMS
from bots.pipeline import Pipeline, Services
from bots.survey_import import ParsedRow
from bots.surveys import CampaignTarget, run_campaign
from conversations import texts
from conversations.engine import BotProfile
from core import cases, optout
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from core.messages import Capabilities, Inbound, render_text
from core.receipts import format_case_number
from storage.models import Case, Conversation, DepartmentWarning, OutboxMessage, Rating, Survey

BEIJING = ZoneInfo("Asia/Shanghai")
PHONE = "+8613800138001"
WEB = Capabilities(max_length=4096, buttons=False)
_ids = itertools.count(1)


async def survey_sent(services: Services, profile: BotProfile, service: str = "不动产登记") -> None:
    row = ParsedRow(
        2, {"phone": PHONE, "service": service, "window": "3号窗口", "department": "县政务服务中心"}
    )
    target = CampaignTarget(profile.bot_id, "sms", "zh_Hans", True, profile.departments)
    summary = await run_campaign(services, [row], target, source="test.csv", actor="test")
    assert summary.counts["queued"] == 1


async def say(
    pipeline: Pipeline, clock: FixedClock, text: str, *, channel: str = "sms", sender: str = PHONE
) -> str:
    inbound = Inbound(
        channel=channel,
        bot_id="county",
        sender=sender,
        message_id=f"m{next(_ids)}",
        text=text,
        received_at=clock.now(),
    )
    capabilities = SMS if channel == "sms" else WEB
    replies = await pipeline.handle(inbound, capabilities, inline=True)
    return "\n".join(render_text(reply, capabilities) for reply in replies)


def sms(key: str, **fields: object) -> str:
    return texts.text("zh_Hans", key, concise=True, **fields)


async def ratings_and_warnings(services: Services) -> tuple[list[int], list[tuple[str, bool]]]:
    async with services.database.reading() as session:
        grades = [rating.grade for rating in await session.scalars(select(Rating).order_by(Rating.id))]
        warnings = [
            (warning.level, warning.resolved_at is None)
            for warning in await session.scalars(select(DepartmentWarning).order_by(DepartmentWarning.id))
        ]
    return grades, warnings


# ---------------------------------------------------------------- expiry


async def test_a_reply_within_72_hours_counts(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    await survey_sent(services, profile)
    clock.advance(hours=71)
    assert (await say(pipeline, clock, "1")).startswith(sms("rate.thanks"))
    assert (await ratings_and_warnings(services))[0] == [1]


async def test_a_reply_73_hours_later_gets_a_polite_answer(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    await survey_sent(services, profile)
    clock.advance(hours=73)
    reply = await say(pipeline, clock, "1")
    assert reply.startswith(sms("rate.survey_closed", service="不动产登记"))
    assert (await ratings_and_warnings(services))[0] == []
    async with services.database.reading() as session:
        assert (await session.scalars(select(Survey.status))).one() == "expired"


async def test_a_reply_matches_the_latest_open_survey(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    await survey_sent(services, profile, "不动产登记")
    clock.advance(hours=1)
    await survey_sent(services, profile, "社保卡补办")
    clock.advance(minutes=1)
    await say(pipeline, clock, "2")
    async with services.database.reading() as session:
        answered = (await session.scalars(select(Survey.service).where(Survey.status == "answered"))).one()
    assert answered == "社保卡补办"


async def test_a_survey_held_for_the_morning_answers_nothing_before_it_is_sent(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 3, 2, 22, 0, tzinfo=BEIJING))
    await run_campaign(
        services,
        [ParsedRow(2, {"phone": PHONE, "service": "不动产登记", "department": "县政务服务中心"})],
        CampaignTarget(profile.bot_id, "sms", "zh_Hans", True, profile.departments),
        source="late.csv",
        actor="test",
    )
    clock.advance(minutes=5)
    assert not (await say(pipeline, clock, "1")).startswith(sms("rate.thanks"))
    assert (await ratings_and_warnings(services))[0] == []


# ---------------------------------------------------------------- correction


async def test_a_second_reply_within_ten_minutes_corrects_the_first(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    await survey_sent(services, profile)
    await say(pipeline, clock, "1")
    clock.advance(minutes=5)
    reply = await say(pipeline, clock, "3")
    assert reply.startswith(sms("rate.corrected_low", grade="不满意"))
    assert sms("rate.ask_reason") in reply
    assert await ratings_and_warnings(services) == ([3], [("yellow", True)])

    reply = await say(pipeline, clock, "窗口说系统坏了，让我明天再来。")
    assert reply.startswith(sms("rate.reason_thanks"))
    async with services.database.reading() as session:
        warning = (await session.scalars(select(DepartmentWarning))).one()
    assert warning.detail["reason"] == "窗口说系统坏了，让我明天再来。"
    assert warning.detail["corrected_from"] == 1


async def test_a_correction_to_a_good_grade_withdraws_the_warning(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    await survey_sent(services, profile)
    await say(pipeline, clock, "4")  # asks for the reason...
    clock.advance(minutes=1)
    reply = await say(pipeline, clock, "1")  # ...but the citizen meant 1
    assert reply.startswith(sms("rate.corrected", grade="满意"))
    assert await ratings_and_warnings(services) == ([1], [("red", False)])


async def test_after_ten_minutes_the_first_reply_stands(
    services: Services, pipeline: Pipeline, profile: BotProfile, clock: FixedClock
) -> None:
    await survey_sent(services, profile)
    await say(pipeline, clock, "1")
    clock.advance(minutes=10, seconds=1)
    reply = await say(pipeline, clock, "3")
    assert sms("rate.corrected_low", grade="不满意") not in reply
    assert await ratings_and_warnings(services) == ([1], [])


# ---------------------------------------------------------------- after a case closes


async def close_case(services: Services, draft: CaseDraft) -> int:
    async with services.database.transaction() as session:
        b = services.backend(session)
        receipt = await cases.submit(b, draft)
        await cases.accept(b, receipt.case_id, "staff:li")
        await cases.assign(b, receipt.case_id, "staff:li", "县住建局")
        await cases.reply(b, receipt.case_id, "staff:li", "路灯已修复。")
        await cases.close(b, receipt.case_id, "staff:li")
        return receipt.case_id


async def test_the_submitter_of_a_closed_web_chat_case_is_asked(
    services: Services, pipeline: Pipeline, clock: FixedClock
) -> None:
    await say(pipeline, clock, "你好", channel="webchat", sender="web-visitor-1")  # a real conversation
    async with services.database.reading() as session:
        conversation_id = (await session.scalars(select(Conversation.id))).one()
    clock.advance(days=3)  # the department works on it
    draft = CaseDraft(
        bot_id="county",
        kind="complaint",
        description="路灯坏了三个月。",
        department="县住建局",
        contact=Contact(channel="webchat", address="web-visitor-1", conversation_id=conversation_id),
    )
    case_id = await close_case(services, draft)
    async with services.database.transaction() as session:
        b = services.backend(session)
        survey_id = await bot_surveys.ask_after_close(b, case_id)
        assert survey_id is not None
        assert await bot_surveys.ask_after_close(b, case_id) is None  # asked once only
        case = await session.get(Case, case_id)
        assert case is not None
        number = format_case_number(case.number)

    async with services.database.reading() as session:
        row = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey"))).one()
        survey = await session.get(Survey, survey_id)
    assert survey is not None and survey.case_id == case_id and survey.department == "县住建局"
    assert (row.channel, row.conversation_id) == ("webchat", conversation_id)
    assert row.payload["text"] == texts.text("zh_Hans", "rate.ask_case", number=number)

    reply = await say(pipeline, clock, "4", channel="webchat", sender="web-visitor-1")
    assert texts.text("zh_Hans", "rate.ask_reason") in reply
    async with services.database.reading() as session:
        rating = (await session.scalars(select(Rating))).one()
        warning = (await session.scalars(select(DepartmentWarning))).one()
    assert (rating.case_id, rating.department, warning.case_id, warning.level) == (
        case_id,
        "县住建局",
        case_id,
        "red",
    )


async def test_a_fully_anonymous_tip_is_never_asked(services: Services) -> None:
    draft = CaseDraft(
        bot_id="county", kind="tip", description="村干部收钱。", department=None, anonymous=True
    )
    case_id = await close_case(services, draft)
    async with services.database.transaction() as session:
        assert await bot_surveys.ask_after_close(services.backend(session), case_id) is None
    async with services.database.reading() as session:
        assert list(await session.scalars(select(Survey))) == []


async def test_a_case_closed_at_night_is_asked_in_the_morning_and_opt_outs_are_respected(
    services: Services, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=BEIJING))
    sms_draft = CaseDraft(
        bot_id="county",
        kind="complaint",
        description="路灯坏了。",
        department="县住建局",
        contact=Contact(channel="sms", address=PHONE, conversation_id=None),
    )
    night = await close_case(services, sms_draft)
    opted = await close_case(services, sms_draft)
    async with services.database.transaction() as session:
        b = services.backend(session)
        assert await bot_surveys.ask_after_close(b, night) is not None
        await optout.opt_out(b, "county", "sms", PHONE)
        assert await bot_surveys.ask_after_close(b, opted) is None
    async with services.database.reading() as session:
        row = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey"))).one()
    assert row.next_attempt_at == datetime(2026, 3, 3, 8, 0, tzinfo=BEIJING)
    assert len(row.payload["text"]) <= 70  # the short form on SMS
    assert row.payload["text"].endswith("回复数字：")
    assert timedelta(0) < row.next_attempt_at - clock.now()


async def test_a_web_chat_case_closed_at_night_is_asked_at_once(
    services: Services, clock: FixedClock
) -> None:
    """Web chat shows a message when the page fetches it: holding it would only leave it unanswerable."""
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=BEIJING))
    draft = CaseDraft(
        bot_id="county",
        kind="suggestion",
        description="建议公园多装几个路灯。",
        department="县住建局",
        contact=Contact(channel="webchat", address="web-visitor-2", conversation_id=None),
    )
    case_id = await close_case(services, draft)
    async with services.database.transaction() as session:
        survey_id = await bot_surveys.ask_after_close(services.backend(session), case_id)
    async with services.database.reading() as session:
        survey = await session.get(Survey, survey_id)
        row = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey"))).one()
    assert survey is not None and survey.sent_at == clock.now() == row.next_attempt_at
