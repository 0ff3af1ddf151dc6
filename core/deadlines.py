"""Deadlines per stage of a case, in working days, and how each stands on a given day.

A case has two promises with dates: a decision whether it is taken on at all (受理, `accept_days` after
submission) and the answer itself (`answer_days`, the date the citizen was told on their receipt, kept
on the case as `due_on`). Both count working days from the day of submission, so a complaint sent on a
Friday before a holiday week is not overdue when the offices reopen.

Days are the county's local days: "due on the 13th" means "by the end of the 13th in Beijing", and a
case becomes overdue at midnight, whatever time the rules happen to run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from core.backend import Backend
from core.policy import Policy
from core.receipts import format_case_number
from core.workdays import WorkCalendar
from storage.models import Case

ACCEPT = "accept"
ANSWER = "answer"
# Statuses in which a stage still waits for the department. A merged duplicate has none: its primary
# carries the work, and reminding about both would count the same matter twice.
_PENDING: dict[str, frozenset[str]] = {
    ACCEPT: frozenset({"submitted"}),
    ANSWER: frozenset({"submitted", "accepted", "assigned", "in_progress"}),
}
OPEN_STATUSES = _PENDING[ANSWER]


class Standing(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"  # within the reminder window: the department is told
    OVERDUE = "overdue"  # past the deadline: a yellow card
    LONG_OVERDUE = "long_overdue"  # past the deadline by the red margin: a red card


class Staged(Protocol):
    """What a case's deadlines depend on; a full `Case` or a few columns of one both qualify."""

    @property
    def status(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def due_on(self) -> date: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def primary_id(self) -> int | None: ...


@dataclass(frozen=True)
class StageDeadline:
    stage: str
    due_on: date
    remind_from: date  # the first day the department is reminded
    red_after: date  # red once this day is over


@dataclass(frozen=True)
class CaseDeadline:
    """One open stage of one case, as supervisors and the rules see it."""

    case_id: int
    number: str
    bot_id: str
    kind: str
    department: str | None
    deadline: StageDeadline
    standing: Standing
    overdue_workdays: int


def accept_due_on(
    policy: Policy, calendar: WorkCalendar, kind: str, submitted_on: date, answer_due: date
) -> date:
    """Never later than the answer itself: answering a case is also deciding to take it on."""
    days = policy.accept_days.get(kind)
    if days is None:
        return answer_due
    return min(calendar.add_workdays(submitted_on, days), answer_due)


def workdays_before(calendar: WorkCalendar, day: date, days: int) -> date:
    """The `days`-th working day before `day`; `day` itself never counts."""
    if days < 0:
        raise ValueError("days must not be negative")
    remaining = days
    while remaining:
        day -= timedelta(days=1)
        if calendar.is_workday(day):
            remaining -= 1
    return day


def workdays_between(calendar: WorkCalendar, after: date, until: date) -> int:
    """Working days in (after, until]: how many working days a case is late on `until`."""
    count, day = 0, after
    while day < until:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            count += 1
    return count


def stage_deadline(policy: Policy, calendar: WorkCalendar, stage: str, due_on: date) -> StageDeadline:
    return StageDeadline(
        stage=stage,
        due_on=due_on,
        remind_from=workdays_before(calendar, due_on, policy.reminder_days),
        red_after=calendar.add_workdays(due_on, policy.red_after_days),
    )


def pending_stages(
    case: Staged, policy: Policy, calendar: WorkCalendar, zone: ZoneInfo
) -> list[StageDeadline]:
    """The stages of `case` still waiting for the department, earliest deadline first."""
    if case.primary_id is not None:
        return []
    submitted_on = case.created_at.astimezone(zone).date()
    stages: list[StageDeadline] = []
    if case.status in _PENDING[ACCEPT]:
        due = accept_due_on(policy, calendar, case.kind, submitted_on, case.due_on)
        stages.append(stage_deadline(policy, calendar, ACCEPT, due))
    if case.status in _PENDING[ANSWER]:
        stages.append(stage_deadline(policy, calendar, ANSWER, case.due_on))
    return stages


def standing(deadline: StageDeadline, today: date) -> Standing:
    if today > deadline.red_after:
        return Standing.LONG_OVERDUE
    if today > deadline.due_on:
        return Standing.OVERDUE
    if today >= deadline.remind_from:
        return Standing.DUE_SOON
    return Standing.ON_TIME


def local_today(b: Backend, now: datetime | None = None) -> date:
    return (now or b.clock.now()).astimezone(b.zone).date()


async def open_cases(
    b: Backend, *, department: str | None = None, case_ids: Iterable[int] | None = None
) -> list[Case]:
    query = select(Case).where(col(Case.status).in_(OPEN_STATUSES), col(Case.primary_id).is_(None))
    if department is not None:
        query = query.where(Case.department == department)
    if case_ids is not None:
        query = query.where(col(Case.id).in_(list(case_ids)))
    return list(await b.session.scalars(query.order_by(col(Case.due_on), col(Case.id))))


async def overview(
    b: Backend, *, department: str | None = None, today: date | None = None, include_on_time: bool = False
) -> list[CaseDeadline]:
    """Open stages due soon, overdue or long overdue (all with `include_on_time`), most urgent first."""
    today = today or local_today(b)
    rows: list[CaseDeadline] = []
    for case in await open_cases(b, department=department):
        rows.extend(
            row
            for row in case_deadlines(b, case, today)
            if include_on_time or row.standing != Standing.ON_TIME
        )
    rows.sort(key=lambda row: (row.deadline.due_on, row.case_id, row.deadline.stage))
    return rows


def case_deadlines(b: Backend, case: Case, today: date) -> list[CaseDeadline]:
    assert case.id is not None
    return [
        CaseDeadline(
            case_id=case.id,
            number=format_case_number(case.number),
            bot_id=case.bot_id,
            kind=case.kind,
            department=case.department,
            deadline=deadline,
            standing=standing(deadline, today),
            overdue_workdays=workdays_between(b.calendar, deadline.due_on, today),
        )
        for deadline in pending_stages(case, b.policy, b.calendar, b.zone)
    ]
