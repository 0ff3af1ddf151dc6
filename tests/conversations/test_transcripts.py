"""Every transcript in tests/transcripts, run through the real pipeline on a fresh database.

The transcripts show what citizens read; the tests below them check what the same conversations left
in the database, where a reply alone cannot show it (an anonymous tip keeps no way back to the
reporter, a cancelled submission keeps nothing).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bots.pipeline import Services
from conversations.engine import BotProfile
from core.clock import FixedClock
from storage.models import Case, Conversation, DepartmentWarning, Handoff, Rating, SubsidyRecord
from tests.conversations.transcript import TRANSCRIPTS, Run, TranscriptRunner

ALL = sorted(TRANSCRIPTS.glob("*.txt"))


async def _run(name: str, services: Services, clock: FixedClock, profile: BotProfile) -> Run:
    return await TranscriptRunner(services, clock, bot_id=profile.bot_id).run(TRANSCRIPTS / name)


@pytest.mark.parametrize("path", ALL, ids=[path.stem for path in ALL])
async def test_transcript(path: Path, services: Services, clock: FixedClock, profile: BotProfile) -> None:
    await TranscriptRunner(services, clock, bot_id=profile.bot_id).run(path)


async def test_anonymous_tip_keeps_no_way_back_to_the_reporter(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run("tip_anonymous_then_lookup.txt", services, clock, profile)
    async with services.database.reading() as session:
        rows = list(await session.scalars(select(Case)))
        conversations = list(await session.scalars(select(Conversation)))
    assert len(rows) == 1
    case = rows[0]
    assert case.kind == "tip"
    assert case.anonymous is True
    assert case.reporter_enc is None
    assert case.contact_enc is None
    assert case.sender_hash is None
    assert case.conversation_id is None
    assert case.description == "村支书王某某把低保名额给了自己亲戚。\n他还收了村民的钱，每户两百元。"
    # Nothing of the tip lingers in the conversation's stored state either.
    assert [conversation.state.get("data") for conversation in conversations] == [{}]


async def test_named_tip_keeps_reporter_encrypted_and_contact_for_notices(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    run = await _run("tip_named_reporter.txt", services, clock, profile)
    async with services.database.reading() as session:
        (case,) = list(await session.scalars(select(Case)))
    keyring = services.keyring
    assert case.kind == "tip" and case.anonymous is False and case.department == "城关镇"
    assert case.reporter_enc is not None and "李建国" not in case.reporter_enc
    assert keyring.decrypt_json(case.reporter_enc) == {"name": "李建国", "phone": "13812345678"}
    assert case.contact_enc is not None
    assert keyring.decrypt_json(case.contact_enc) == {"channel": run.channel, "address": run.address}


async def test_complaint_keeps_attachments(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run("complaint_with_photo_location.txt", services, clock, profile)
    async with services.database.reading() as session:
        (case,) = list(await session.scalars(select(Case)))
    assert case.kind == "complaint" and case.department == "县住建局"
    assert [attachment["kind"] for attachment in case.attachments] == ["image", "location", "voice"]
    assert case.description.endswith("修路的工程到现在也没有完成\n村主任说没有钱修")


@pytest.mark.parametrize(
    "name",
    [
        "submit_restart_and_discard.txt",
        "globals_submit.txt",
        "globals_submit_human.txt",
        "globals_subsidy.txt",
    ],
)
async def test_cancelled_or_discarded_submissions_keep_nothing(
    name: str, services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run(name, services, clock, profile)
    async with services.database.reading() as session:
        assert list(await session.scalars(select(Case))) == []


async def test_subsidy_question_opens_a_complaint_about_that_payment(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run("subsidy_found_and_question.txt", services, clock, profile)
    async with services.database.reading() as session:
        (case,) = list(await session.scalars(select(Case)))
        pension = await session.scalar(
            select(SubsidyRecord).where(SubsidyRecord.programme == "城乡居民基础养老金")
        )
    assert pension is not None
    assert case.kind == "complaint"
    assert case.subject == {"type": "subsidy_payment", "payment_id": pension.id}
    assert case.department == "县人社局"
    assert case.description == "说好的每月188元，我只收到了11个月的钱。"
    assert case.contact_enc is not None


async def test_odd_text_is_stored_as_typed(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run("odd_inputs.txt", services, clock, profile)
    async with services.database.reading() as session:
        (case,) = list(await session.scalars(select(Case)))
    assert case.description == "1'; DROP TABLE cases;--\n<script>alert(1)</script>"


async def test_ratings_and_the_warnings_they_raise(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run("rate_survey_sms.txt", services, clock, profile)
    async with services.database.reading() as session:
        ratings = list(await session.scalars(select(Rating).order_by(Rating.id)))
        warnings = list(await session.scalars(select(DepartmentWarning)))
    assert [(r.grade, r.department, r.window) for r in ratings] == [
        (1, "县政务服务中心", "3号窗口"),
        (1, "县政务服务中心", "7号窗口"),
        (4, "县市场监管局", "12号窗口"),
    ]
    assert ratings[0].staff_name == "刘芳"
    assert ratings[2].reason == "让我跑了三趟，每次说缺不同的材料。"
    (warning,) = warnings
    assert warning.level == "red" and warning.department == "县市场监管局"
    assert warning.detail["reason"] == "让我跑了三趟，每次说缺不同的材料。"


async def test_handoffs_record_why_and_end_where_they_should(
    services: Services, clock: FixedClock, profile: BotProfile
) -> None:
    await _run("handoff_in_office_hours.txt", services, clock, profile)
    async with services.database.reading() as session:
        handoffs = list(await session.scalars(select(Handoff).order_by(Handoff.id)))
        (conversation,) = list(await session.scalars(select(Conversation)))
    assert [(h.reason, h.status, h.closed_by) for h in handoffs] == [
        ("asked", "closed", "citizen"),
        ("not_understood", "closed", "transcript"),
    ]
    assert conversation.mode == "bot"
