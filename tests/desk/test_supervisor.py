"""Supervisors' pages: warning cards and deadlines, the satisfaction dashboard, and CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from sqlalchemy import select

from bots.bootstrap import Deployment
from bots.desk import charts, ratings_stats
from bots.desk.export import cell
from core import cases, ratings
from core.cases import CaseDraft
from core.clock import FixedClock
from core.receipts import format_case_number
from storage.models import AuditEvent, DepartmentWarning
from tests.desk.conftest import DEPT_A, DEPT_B, World


async def _rate(deployment: Deployment, clock: FixedClock, grades: list[tuple[int, str, str, str]]) -> None:
    """(days ago, department, window, staff) per grade; the world already holds one 很差 for department A."""
    for days_ago, grade, department, staff in grades:
        clock.advance(days=-days_ago)
        async with deployment.services.database.transaction() as session:
            await ratings.record(
                deployment.services.backend(session),
                bot_id="demo",
                channel="sms",
                grade=grade,
                department=department,
                window="1号窗口",
                staff_name=staff,
            )
        clock.advance(days=days_ago)


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the mark
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_dashboard_counts_the_satisfaction_rate(
    world: World, desk_as: Any, deployment: Deployment, clock: FixedClock
) -> None:
    await _rate(
        deployment,
        clock,
        [
            (1, 1, DEPT_A, "李敏"),
            (8, 2, DEPT_A, "李敏"),
            (15, 1, DEPT_B, "张伟"),
            (20, 3, DEPT_B, "张伟"),
            (200, 1, DEPT_A, "李敏"),
        ],
    )
    sue = await desk_as("sue")
    page = await (await sue.get("/desk/ratings?period=90")).text()
    # 90 days: A has 满意, 基本满意 and the world's 很差; B has 满意 and 不满意. (1+1+1) / 5 = 60%.
    assert 'id="satisfaction-rate">60.0%' in page
    assert "<svg" in page and "polyline" in page and "66.7%" in page and "50.0%" in page
    year = await (await sue.get("/desk/ratings?period=365")).text()
    assert 'id="satisfaction-rate">66.7%' in year
    by_staff = await (await sue.get("/desk/ratings?group=staff&department=" + DEPT_A)).text()
    assert "李敏" in by_staff and "张伟" not in by_staff

    export = await sue.get("/desk/export/satisfaction.csv?period=90")
    assert export.headers["Content-Disposition"].startswith('attachment; filename="satisfaction-')
    rows = _csv(await export.read())
    assert rows[0] == ["部门", "满意", "基本满意", "不满意", "很差", "合计", "满意率"]
    assert rows[1:] == [
        [DEPT_A, "1", "1", "0", "1", "3", "0.6667"],
        [DEPT_B, "1", "0", "1", "0", "2", "0.5000"],
        ["全部", "2", "1", "1", "1", "5", "0.6000"],
    ]
    details = _csv(await (await sue.get("/desk/export/ratings.csv?period=365")).read())
    assert len(details) == 1 + 6 and details[0][:5] == ["时间", "部门", "窗口", "工作人员", "评分"]


async def test_warnings_show_cards_and_deadlines_and_can_be_resolved(
    world: World, desk_as: Any, deployment: Deployment, clock: FixedClock
) -> None:
    sue = await desk_as("sue")
    page = await (await sue.get("/desk/warnings")).text()
    assert "红牌" in page and "很差" in page and "没有临期或超期的案件" in page

    clock.advance(days=45)  # far past every answer deadline
    sue = await desk_as("sue")
    late = await (await sue.get("/desk/warnings")).text()
    assert "严重超期" in late and "level-red" in late

    assert (await sue.post(f"/desk/warnings/{world.warning}/resolve")).status == 303
    async with deployment.services.database.reading() as session:
        warning = await session.get(DepartmentWarning, world.warning)
        trail = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "warning.resolve")))
    assert warning is not None and warning.resolved_at is not None
    assert [row.actor for row in trail] == ["sue"]
    assert "没有未处理的预警卡" in await (await sue.get("/desk/warnings")).text()
    exported = _csv(await (await sue.get("/desk/export/warnings.csv")).read())
    assert exported[1][1:4] == [DEPT_A, "差评", "红牌"] and exported[1][-1]


async def test_the_case_export_follows_the_filters_and_defuses_formulas(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    async with deployment.services.database.transaction() as session:
        await cases.submit(
            deployment.services.backend(session),
            CaseDraft(
                bot_id="demo",
                kind="complaint",
                description='=HYPERLINK("http://x","点我")',
                department=DEPT_B,
            ),
        )
    sue = await desk_as("sue")
    await sue.post(f"/desk/cases/{world.case_a2}/merge", {"into": world.numbers[world.case_a]})
    merged = _csv(await (await sue.get(f"/desk/export/cases.csv?department={DEPT_A}&kind=complaint")).read())
    assert [row[9] for row in merged[1:]] == ["", format_case_number(world.numbers[world.case_a])]
    rows = _csv(await (await sue.get(f"/desk/export/cases.csv?department={DEPT_B}")).read())
    assert rows[0] == [
        "编号",
        "类型",
        "状态",
        "承办部门",
        "渠道",
        "提交时间",
        "答复期限",
        "超期",
        "办结时间",
        "并入",
        "内容",
    ]
    assert {row[3] for row in rows[1:]} == {DEPT_B} and len(rows) == 3
    assert '\'=HYPERLINK("http://x","点我")' in [row[-1] for row in rows]
    async with deployment.services.database.reading() as session:
        audit = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "export.cases").order_by(AuditEvent.id.desc())
            )
        ).first()
    assert audit is not None
    assert audit.detail == {"rows": 2, "filters": {"department": DEPT_B}}


def test_cells_that_look_like_formulas_become_text() -> None:
    assert [cell(v) for v in ("=1+1", "+86", "-3", "@x", "普通", 5, None)] == [
        "'=1+1",
        "'+86",
        "'-3",
        "'@x",
        "普通",
        "5",
        "",
    ]


def test_line_chart_geometry() -> None:
    series = [ratings_stats.Series("全部", [1.0, None, 0.5], [2, 0, 4])]
    chart = charts.line_chart([date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)], series, "周")
    [line] = chart.lines
    assert len(line.segments) == 2  # the empty week breaks the line instead of drawing a false 0%
    # The axis starts a step below the lowest rate (50% → 40%), so differences stay visible.
    assert [tick.label for tick in chart.y_ticks] == ["40%", "55%", "70%", "85%", "100%"]
    assert chart.y_ticks[0].at == chart.bottom and chart.y_ticks[-1].at == chart.top
    assert line.points[0].y == chart.top  # 100%
    assert line.points[1].y == round(chart.top + (1 - 0.5) / (1 - 0.4) * (chart.bottom - chart.top), 1)
    assert line.points[0].x == chart.left and line.points[1].x == chart.right
    assert "50.0%（4条）" in line.points[1].title
