"""Survey campaigns from the files service centres export: CSV in UTF-8 with BOM or GBK, and XLSX; one
survey and one outbox row per good row, bad rows reported with their line, opt-outs skipped, nothing
sent at night, and sends paced per sender."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bots.pipeline import Services
from bots.survey_import import SurveyFileError, read_survey_bytes, read_survey_file
from bots.surveys import CampaignTarget, run_campaign, survey_question
from conversations.engine import BotProfile
from core import optout
from core.clock import FixedClock
from core.ratings import SurveyView
from core.survey_rows import normalize_phone
from core.surveys import CampaignSummary, Outcome
from storage.models import Conversation, OutboxMessage, Survey
from storage.schedule_models import SurveyCampaign

BEIJING = ZoneInfo("Asia/Shanghai")
HEADER = ["手机号", "服务事项", "窗口", "工作人员", "部门", "办理时间"]
ROWS = [
    ["13800138001", "不动产登记", "3号窗口", "刘芳", "县政务服务中心", "2026-03-02 08:45"],  # line 2
    ["+86 139 0013 8002", "社保卡补办", "7号窗口", "", "县政务服务中心", "2026/3/2 8:50"],  # line 3
    ["0571-88886666", "营业执照办理", "12号窗口", "王强", "县市场监管局", "2026-03-02 08:55"],  # landline
    ["13800138004", "户籍办理", "1号窗口", "", "县公安局", "2026-03-02 09:00"],  # not a configured department
    ["13800138005", "不动产登记", "3号窗口", "刘芳", "县政务服务中心", "2026-03-02 08:30"],  # opted out
    ["", "", "", "", "", ""],  # line 7: blank, not a row
    ["13800138006", "", "3号窗口", "", "县政务服务中心", ""],  # no service
    ["13800138007", "不动产登记", "3号窗口", "", "县政务服务中心", "2026-03-03 10:00"],  # in the future
]
OPTED_OUT = "+8613800138005"


def write_csv(path: Path, encoding: str, header: list[str] = HEADER, rows: list[list[str]] = ROWS) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def target(profile: BotProfile) -> CampaignTarget:
    return CampaignTarget(
        bot_id=profile.bot_id,
        channel="sms",
        language="zh_Hans",
        concise=True,
        departments=profile.departments,
    )


async def run(
    services: Services, profile: BotProfile, path: Path, *, dry_run: bool = False
) -> CampaignSummary:
    return await run_campaign(
        services, read_survey_file(path), target(profile), source=path.name, actor="test", dry_run=dry_run
    )


async def opt_out(services: Services, phone: str = OPTED_OUT) -> None:
    async with services.database.transaction() as session:
        await optout.opt_out(services.backend(session), "county", "sms", phone)


async def queued(services: Services) -> list[tuple[OutboxMessage, Survey]]:
    """Each survey with its outbox row, in the order they were written."""
    async with services.database.reading() as session:
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey")))
        found = list(await session.scalars(select(Survey).order_by(Survey.id)))
    return list(zip(sorted(rows, key=lambda row: row.id), found, strict=True))


def check_file_outcome(summary: CampaignSummary) -> None:
    assert summary.rows == 7
    assert summary.counts[Outcome.QUEUED] == 2
    assert summary.counts[Outcome.OPTED_OUT] == 1
    assert summary.counts[Outcome.INVALID] == 4
    assert [(problem.line, problem.reason) for problem in summary.problems] == [
        (4, "invalid_phone"),
        (5, "unknown_department"),
        (8, "missing_service"),
        (9, "future_time"),
    ]


async def test_utf8_bom_csv_makes_one_survey_per_good_row(
    services: Services, profile: BotProfile, clock: FixedClock, tmp_path: Path
) -> None:
    await opt_out(services)
    summary = await run(services, profile, write_csv(tmp_path / "visits.csv", "utf-8-sig"))
    check_file_outcome(summary)

    pairs = await queued(services)
    now = clock.now()
    assert [services.keyring.decrypt(row.address_enc) for row, _ in pairs] == [
        "+8613800138001",
        "+8613900138002",
    ]
    # Paced at 30 a minute for this sender: one every two seconds.
    assert [row.next_attempt_at for row, _ in pairs] == [now, now + timedelta(seconds=2)]
    first_row, first = pairs[0]
    assert (first.service, first.window, first.staff_name, first.department) == (
        "不动产登记",
        "3号窗口",
        "刘芳",
        "县政务服务中心",
    )
    assert first.served_at == datetime(2026, 3, 2, 8, 45, tzinfo=BEIJING)
    assert first.sent_at == now and first.expires_at == now + timedelta(hours=72)
    view = SurveyView(
        first.id or 0, first.service, first.department, first.window, first.staff_name, now, None
    )
    assert first_row.payload == survey_question(view, "zh_Hans", concise=True).to_json()
    assert first_row.status == "pending" and first_row.conversation_id is not None

    async with services.database.reading() as session:
        campaign = (await session.scalars(select(SurveyCampaign))).one()
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
    assert campaign.finished_at == now and campaign.summary["counts"]["queued"] == 2
    assert conversations == 2  # the questions show in each citizen's history


async def test_gbk_csv_as_excel_saves_it_on_chinese_windows(
    services: Services, profile: BotProfile, tmp_path: Path
) -> None:
    await opt_out(services)
    check_file_outcome(await run(services, profile, write_csv(tmp_path / "visits.csv", "gbk")))
    assert len(await queued(services)) == 2


async def test_xlsx_with_english_headers_numbers_and_dates(
    services: Services, profile: BotProfile, clock: FixedClock, tmp_path: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Phone", "Service", "Window", "Staff member", "Department", "Time", "Notes"])
    sheet.append(
        [13800138001, "不动产登记", "3号窗口", "刘芳", "县政务服务中心", datetime(2026, 3, 2, 8, 45), "x"]
    )
    sheet.append([13800138002.0, "社保卡补办", None, None, "县政务服务中心", None, None])
    sheet.append(["12345", "社保卡补办", None, None, "县政务服务中心", None, None])
    path = tmp_path / "visits.xlsx"
    workbook.save(path)

    summary = await run(services, profile, path)
    assert (summary.counts[Outcome.QUEUED], summary.counts[Outcome.INVALID]) == (2, 1)
    assert [(problem.line, problem.reason) for problem in summary.problems] == [(4, "invalid_phone")]
    (_, first), (_, second) = await queued(services)
    assert first.served_at == datetime(2026, 3, 2, 8, 45, tzinfo=BEIJING)
    assert (second.window, second.staff_name, second.served_at) == (None, None, None)


async def test_quiet_hours_hold_the_campaign_until_eight(
    services: Services, profile: BotProfile, clock: FixedClock, tmp_path: Path
) -> None:
    clock.set(datetime(2026, 3, 2, 22, 30, tzinfo=BEIJING))
    summary = await run(services, profile, write_csv(tmp_path / "visits.csv", "utf-8-sig"))
    assert (summary.counts[Outcome.QUEUED], summary.counts[Outcome.DEFERRED]) == (0, 3)
    morning = datetime(2026, 3, 3, 8, 0, tzinfo=BEIJING)
    pairs = await queued(services)
    assert [row.next_attempt_at for row, _ in pairs] == [morning + timedelta(seconds=2 * i) for i in range(3)]
    # The survey counts its 72 hours from when it is actually sent.
    assert pairs[0][1].expires_at == morning + timedelta(hours=72)


async def test_a_campaign_crossing_into_quiet_hours_is_split(
    services: Services, profile: BotProfile, clock: FixedClock, tmp_path: Path
) -> None:
    clock.set(datetime(2026, 3, 2, 20, 59, 57, tzinfo=BEIJING))
    rows = [[f"138001390{index:02d}", "不动产登记", "", "", "县政务服务中心", ""] for index in range(4)]
    summary = await run(services, profile, write_csv(tmp_path / "late.csv", "utf-8", rows=rows))
    assert (summary.counts[Outcome.QUEUED], summary.counts[Outcome.DEFERRED]) == (2, 2)
    times = [row.next_attempt_at for row, _ in await queued(services)]
    morning = datetime(2026, 3, 3, 8, 0, tzinfo=BEIJING)
    assert times[2:] == [morning, morning + timedelta(seconds=2)]


async def test_a_second_campaign_queues_behind_the_first(
    services: Services, profile: BotProfile, clock: FixedClock, tmp_path: Path
) -> None:
    rows = [[f"138001390{index:02d}", "不动产登记", "", "", "县政务服务中心", ""] for index in range(6)]
    await run(services, profile, write_csv(tmp_path / "one.csv", "utf-8", rows=rows[:3]))
    await run(services, profile, write_csv(tmp_path / "two.csv", "utf-8", rows=rows[3:]))
    times = [row.next_attempt_at for row, _ in await queued(services)]
    assert times == [clock.now() + timedelta(seconds=2 * i) for i in range(6)]


async def test_the_same_file_twice_asks_nobody_twice(
    services: Services, profile: BotProfile, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "visits.csv", "utf-8-sig")
    await run(services, profile, path)
    again = await run(services, profile, path)
    assert (
        again.counts[Outcome.DUPLICATE],
        again.counts[Outcome.QUEUED],
        again.counts[Outcome.DEFERRED],
    ) == (3, 0, 0)
    assert len(await queued(services)) == 3


async def test_a_dry_run_predicts_and_writes_nothing(
    services: Services, profile: BotProfile, tmp_path: Path
) -> None:
    await opt_out(services)
    path = write_csv(tmp_path / "visits.csv", "utf-8-sig")
    check_file_outcome(await run(services, profile, path, dry_run=True))
    assert await queued(services) == []
    async with services.database.reading() as session:
        assert await session.scalar(select(func.count()).select_from(SurveyCampaign)) == 0


def test_a_file_without_a_phone_column_is_refused_whole() -> None:
    with pytest.raises(SurveyFileError, match="no column for phone"):
        read_survey_bytes("姓名,服务事项,部门\n张三,不动产登记,县政务服务中心\n".encode(), "visits.csv")
    with pytest.raises(SurveyFileError, match=r"\.xls"):
        read_survey_bytes(b"\xd0\xcf\x11\xe0", "visits.xls")


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("８６１３８００１３８０００", "+8613800138000"),
        ("+852 9123 4567", "+85291234567"),
        ("0571-88886666", None),
        ("12800138000", None),
        ("1380013800", None),
    ],
)
def test_phone_numbers(raw: str, phone: str | None) -> None:
    assert normalize_phone(raw) == phone
