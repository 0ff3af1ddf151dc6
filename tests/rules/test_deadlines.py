"""Stage deadlines in working days: weekends, the May Day holiday with its 调休 Saturday, configured
extra holidays, and how a stage stands on a given day."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from core import cases, deadlines
from core.backend import Backend
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from core.deadlines import Standing
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.models import Case

BEIJING = ZoneInfo("Asia/Shanghai")
FRIDAY_BEFORE_MAY_DAY = datetime(2026, 4, 24, 16, 30, tzinfo=BEIJING)


def complaint(department: str = "县住建局") -> CaseDraft:
    return CaseDraft(
        bot_id="county",
        kind="complaint",
        description="小区门口的路灯坏了三个月没人修。",
        department=department,
        contact=Contact(channel="webchat", address="web-visitor-1", conversation_id=None),
    )


def test_acceptance_deadline_skips_the_weekend_and_may_day() -> None:
    policy, calendar = Policy(), WorkCalendar()
    # Mon 27 – Thu 30 are four working days; 1–5 May is the holiday; Wed 6 May is the fifth.
    assert deadlines.accept_due_on(
        policy, calendar, "complaint", date(2026, 4, 24), date(2026, 5, 19)
    ) == date(2026, 5, 6)


def test_configured_holiday_moves_the_deadline() -> None:
    policy = Policy(extra_holidays=frozenset({date(2026, 4, 28)}))
    calendar = WorkCalendar(extra_holidays=policy.extra_holidays)
    assert deadlines.accept_due_on(
        policy, calendar, "complaint", date(2026, 4, 24), date(2026, 5, 19)
    ) == date(2026, 5, 7)


def test_acceptance_is_never_due_after_the_answer() -> None:
    policy = Policy(accept_days={"question": 10})
    due = deadlines.accept_due_on(policy, WorkCalendar(), "question", date(2026, 3, 2), date(2026, 3, 9))
    assert due == date(2026, 3, 9)


def test_stage_windows_count_working_days_both_ways() -> None:
    deadline = deadlines.stage_deadline(Policy(), WorkCalendar(), "accept", date(2026, 5, 6))
    # One working day before Wed 6 May is Thu 30 April (the holiday is skipped backwards too).
    assert deadline.remind_from == date(2026, 4, 30)
    # Five working days after: Thu 7, Fri 8, Sat 9 (a make-up working day), Mon 11, Tue 12.
    assert deadline.red_after == date(2026, 5, 12)
    assert deadlines.standing(deadline, date(2026, 4, 29)) == Standing.ON_TIME
    assert deadlines.standing(deadline, date(2026, 4, 30)) == Standing.DUE_SOON
    assert deadlines.standing(deadline, date(2026, 5, 6)) == Standing.DUE_SOON
    assert deadlines.standing(deadline, date(2026, 5, 7)) == Standing.OVERDUE
    assert deadlines.standing(deadline, date(2026, 5, 12)) == Standing.OVERDUE
    assert deadlines.standing(deadline, date(2026, 5, 13)) == Standing.LONG_OVERDUE


async def test_a_friday_complaint_has_both_stages_after_the_holiday(
    backend: Backend, clock: FixedClock
) -> None:
    clock.set(FRIDAY_BEFORE_MAY_DAY)
    receipt = await cases.submit(backend, complaint())
    case = await cases.get_by_number(backend, receipt.number)
    assert case is not None
    stages = deadlines.pending_stages(case, backend.policy, backend.calendar, backend.zone)
    assert [(stage.stage, stage.due_on) for stage in stages] == [
        ("accept", date(2026, 5, 6)),
        ("answer", receipt.due_on),
    ]
    assert receipt.due_on == date(2026, 5, 19)

    await cases.accept(backend, receipt.case_id, "staff:li")
    stages = deadlines.pending_stages(case, backend.policy, backend.calendar, backend.zone)
    assert [stage.stage for stage in stages] == ["answer"]


async def test_overview_lists_what_needs_attention_most_urgent_first(
    backend: Backend, clock: FixedClock
) -> None:
    clock.set(FRIDAY_BEFORE_MAY_DAY)
    late = await cases.submit(backend, complaint("县住建局"))
    clock.set(datetime(2026, 5, 7, 9, 0, tzinfo=BEIJING))
    fresh = await cases.submit(backend, complaint("县民政局"))

    rows = await deadlines.overview(backend)
    assert [(row.case_id, row.deadline.stage, row.standing) for row in rows] == [
        (late.case_id, "accept", Standing.OVERDUE)
    ]
    assert rows[0].overdue_workdays == 1
    everything = await deadlines.overview(backend, include_on_time=True)
    assert {row.case_id for row in everything} == {late.case_id, fresh.case_id}
    assert await deadlines.overview(backend, department="县民政局") == []


async def test_merged_duplicates_and_answered_cases_have_no_deadlines(
    backend: Backend, clock: FixedClock
) -> None:
    clock.set(FRIDAY_BEFORE_MAY_DAY)
    receipt = await cases.submit(backend, complaint())
    case = await cases.get_by_number(backend, receipt.number)
    assert case is not None
    for changes in ({"primary_id": 99}, {"status": "replied"}, {"status": "declined"}, {"status": "closed"}):
        changed = Case(**{**case.model_dump(), **changes})
        assert deadlines.pending_stages(changed, backend.policy, backend.calendar, backend.zone) == []
