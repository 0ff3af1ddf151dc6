"""The deadline rules: remind the department before a deadline, warn yellow when it passes, red when
it is long past — each exactly once per case, stage and kind.

"Exactly once" rests on the unique key of `DeadlineMark` (case, stage, kind), inserted in a savepoint
before anything else is written: a second worker, or the same worker after a restart, finds the key
taken and writes nothing, whatever it had read before. Everything a mark causes — the warning card,
the event in the case's timeline, any message the caller queues — lives in the same transaction, so a
crash leaves either all of it or none of it, and a later run finishes what none of it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.backend import Backend
from core.deadlines import (
    OPEN_STATUSES,
    StageDeadline,
    Standing,
    local_today,
    pending_stages,
    standing,
)
from core.receipts import format_case_number
from storage.models import Case, CaseEvent, DepartmentWarning
from storage.schedule_models import DeadlineMark

REMINDER = "reminder"
YELLOW = "yellow"
RED = "red"
ACTOR = "system"


@dataclass(frozen=True)
class Raised:
    """A mark just recorded, for whoever tells people about it (desk, staff SMS)."""

    case_id: int
    number: str
    bot_id: str
    case_kind: str  # complaint, tip, suggestion, question
    kind: str  # reminder, yellow, red
    stage: str
    due_on: date
    department: str | None
    warning_id: int | None


def marks_due(deadline: StageDeadline, today: date) -> list[str]:
    """Which marks a stage has earned by `today`, in the order they would have come.

    A reminder only makes sense before the deadline: a worker that was down until after it goes
    straight to the warning rather than announcing a deadline that has already passed.
    """
    state = standing(deadline, today)
    if state == Standing.DUE_SOON:
        return [REMINDER]
    if state == Standing.OVERDUE:
        return [YELLOW]
    if state == Standing.LONG_OVERDUE:
        return [YELLOW, RED]
    return []


# Open cases are read this many at a time: the scheduler runs in every serving process, and a county
# with a million open cases must not hold them all in memory, nor bind a million ids in one query
# (SQLite refuses more than 32 766 bound variables).
BATCH = 2000


@dataclass(frozen=True)
class _OpenCase:
    """Just what `pending_stages` reads, so a batch costs a few tuples rather than full ORM objects."""

    id: int
    status: str
    kind: str
    due_on: date
    created_at: datetime
    primary_id: int | None


async def cases_needing_marks(b: Backend, today: date | None = None) -> list[int]:
    """Open cases with a mark due that is not recorded yet; a cheap read to run before any locking."""
    today = today or local_today(b)
    needing: list[int] = []
    after: int | None = 0
    while after is not None:
        found, after = await next_needing_marks(b, today, after)
        needing.extend(found)
    return needing


async def next_needing_marks(b: Backend, today: date, after: int) -> tuple[list[int], int | None]:
    """Of the next `BATCH` open cases after id `after`, those with a mark due and not yet recorded;
    and where the next batch starts (None after the last).

    One batch per call, so a caller can act on each in a short read of its own: a pass over a million
    open cases then never holds one read open for minutes (nor a million ids in memory).
    """
    query = (
        select(Case.id, Case.status, Case.kind, Case.due_on, Case.created_at, Case.primary_id)
        .where(
            col(Case.status).in_(OPEN_STATUSES),
            col(Case.primary_id).is_(None),
            col(Case.id) > after,
        )
        .order_by(col(Case.id))
        .limit(BATCH)
    )  # keyset paging: as fast on the last batch as on the first
    batch = [_OpenCase(*row) for row in await b.session.execute(query)]
    following = batch[-1].id if len(batch) == BATCH else None
    wanted: dict[int, set[tuple[str, str]]] = {}
    for case in batch:
        for deadline in pending_stages(case, b.policy, b.calendar, b.zone):
            for kind in marks_due(deadline, today):
                wanted.setdefault(case.id, set()).add((deadline.stage, kind))
    if not wanted:
        return [], following
    done: dict[int, set[tuple[str, str]]] = {}
    marked = select(DeadlineMark.case_id, DeadlineMark.stage, DeadlineMark.kind).where(
        col(DeadlineMark.case_id).in_(list(wanted))
    )
    for case_id, stage, kind in await b.session.execute(marked):
        done.setdefault(case_id, set()).add((stage, kind))
    return [case_id for case_id, marks in wanted.items() if marks - done.get(case_id, set())], following


async def raise_for_case(b: Backend, case_id: int, today: date | None = None) -> list[Raised]:
    """Record the marks `case_id` has earned and not yet got; what was recorded now, in order."""
    today = today or local_today(b)
    case = await b.session.get(Case, case_id, populate_existing=True)
    if case is None:
        return []
    raised: list[Raised] = []
    for deadline in pending_stages(case, b.policy, b.calendar, b.zone):
        for kind in marks_due(deadline, today):
            mark = await _claim(b, case, deadline, kind)
            if mark is None:
                continue
            raised.append(await _record(b, case, deadline, kind, mark, today))
    return raised


async def marks(b: Backend, case_id: int) -> list[DeadlineMark]:
    query = select(DeadlineMark).where(DeadlineMark.case_id == case_id).order_by(col(DeadlineMark.id))
    return list(await b.session.scalars(query))


async def _claim(b: Backend, case: Case, deadline: StageDeadline, kind: str) -> DeadlineMark | None:
    """The mark, newly inserted; None when it exists (this or another worker recorded it first)."""
    assert case.id is not None
    mark = DeadlineMark(
        bot_id=case.bot_id,
        case_id=case.id,
        stage=deadline.stage,
        kind=kind,
        due_on=deadline.due_on,
        at=b.clock.now(),
    )
    try:
        async with b.session.begin_nested():
            b.session.add(mark)
    except IntegrityError:
        return None
    return mark


async def _record(
    b: Backend, case: Case, deadline: StageDeadline, kind: str, mark: DeadlineMark, today: date
) -> Raised:
    assert case.id is not None
    now = b.clock.now()
    number = format_case_number(case.number)
    detail: dict[str, Any] = {"stage": deadline.stage, "due_on": deadline.due_on.isoformat()}
    warning_id: int | None = None
    if kind in (YELLOW, RED):
        warning = DepartmentWarning(
            bot_id=case.bot_id,
            department=case.department or "",
            kind="overdue",
            level=kind,
            case_id=case.id,
            detail={**detail, "case_number": number, "case_kind": case.kind, "noticed_on": today.isoformat()},
            created_at=now,
        )
        b.session.add(warning)
        await b.session.flush()
        warning_id = mark.warning_id = warning.id
        detail = {**detail, "level": kind, "warning_id": warning_id}
    b.session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=ACTOR,
            action="warning" if warning_id is not None else REMINDER,
            detail=detail,
        )
    )
    await b.session.flush()
    return Raised(
        case_id=case.id,
        number=number,
        bot_id=case.bot_id,
        case_kind=case.kind,
        kind=kind,
        stage=deadline.stage,
        due_on=deadline.due_on,
        department=case.department,
        warning_id=warning_id,
    )
