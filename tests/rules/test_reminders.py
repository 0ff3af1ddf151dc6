"""The deadline rules over time: a reminder the working day before, yellow when overdue, red when long
overdue — each once, however often the rules run, after a restart, or in two workers at the same time."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bots import scheduler
from bots.bootstrap import bootstrap
from bots.pipeline import Services
from bots.scheduler import STAFF_NOTICE, Scheduler, StaffPhones
from bots.settings import BotSettings, Settings
from core import cases, deadlines, reminders
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from storage.database import Database
from storage.models import Case, CaseEvent, DepartmentWarning, OutboxMessage
from storage.schedule_models import DeadlineMark
from tests.conftest import TEST_SECRET

BEIJING = ZoneInfo("Asia/Shanghai")
STAFF_PHONE = "+8613900000001"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING)


async def submit_friday_complaint(services: Services, clock: FixedClock) -> int:
    """Friday 24 April 2026: acceptance due Wed 6 May (after May Day), answer due Tue 19 May."""
    clock.set(at(date(2026, 4, 24), 16, 30))
    return await submit_complaint_now(services)


async def submit_complaint_now(services: Services) -> int:
    draft = CaseDraft(
        bot_id="county",
        kind="complaint",
        description="小区门口的路灯坏了三个月没人修。",
        department="县住建局",
        contact=Contact(channel="webchat", address="web-visitor-1", conversation_id=None),
    )
    async with services.database.transaction() as session:
        return (await cases.submit(services.backend(session), draft)).case_id


async def marks(services: Services) -> list[tuple[str, str]]:
    async with services.database.reading() as session:
        rows = await session.scalars(select(DeadlineMark).order_by(DeadlineMark.id))
        return [(mark.stage, mark.kind) for mark in rows]


async def events(services: Services, case_id: int) -> list[tuple[str, dict[str, object]]]:
    async with services.database.reading() as session:
        rows = await session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.actor == "system")
            .order_by(CaseEvent.id)
        )
        return [(event.action, event.detail) for event in rows]


async def overdue_warnings(services: Services) -> list[DepartmentWarning]:
    async with services.database.reading() as session:
        query = (
            select(DepartmentWarning)
            .where(DepartmentWarning.kind == "overdue")
            .order_by(DepartmentWarning.id)
        )
        return list(await session.scalars(query))


async def test_reminder_then_yellow_then_red_each_once(services: Services, clock: FixedClock) -> None:
    case_id = await submit_friday_complaint(services, clock)
    scheduler = Scheduler(services)

    clock.set(at(date(2026, 4, 29)))  # two working days before: nothing yet
    assert (await scheduler.apply_rules()).cases == 0

    clock.set(at(date(2026, 4, 30)))  # the working day before the deadline (May Day follows)
    report = await scheduler.apply_rules()
    assert (report.cases, report.reminders) == (1, 1)
    assert await scheduler.apply_rules() == type(report)()  # a second run in the same day adds nothing
    assert await marks(services) == [("accept", "reminder")]
    assert await events(services, case_id) == [("reminder", {"stage": "accept", "due_on": "2026-05-06"})]
    assert await overdue_warnings(services) == []

    clock.set(at(date(2026, 5, 6), 23, 59))  # still the deadline day
    assert (await scheduler.apply_rules()).cases == 0

    clock.set(at(date(2026, 5, 7), 0, 1))  # overdue: yellow
    assert (await scheduler.apply_rules()).yellow == 1
    (yellow,) = await overdue_warnings(services)
    assert (yellow.level, yellow.department, yellow.case_id) == ("yellow", "县住建局", case_id)
    assert yellow.detail["stage"] == "accept" and yellow.detail["due_on"] == "2026-05-06"

    clock.set(at(date(2026, 5, 12), 18))  # overdue by five working days (Sat 9 May is one): still yellow
    assert (await scheduler.apply_rules()).cases == 0

    clock.set(at(date(2026, 5, 13)))  # past the red margin
    assert (await scheduler.apply_rules()).red == 1
    assert [w.level for w in await overdue_warnings(services)] == ["yellow", "red"]
    assert [action for action, _ in await events(services, case_id)] == ["reminder", "warning", "warning"]
    assert await marks(services) == [("accept", "reminder"), ("accept", "yellow"), ("accept", "red")]


async def test_accepting_stops_the_acceptance_rules_and_the_answer_has_its_own(
    services: Services, clock: FixedClock
) -> None:
    case_id = await submit_friday_complaint(services, clock)
    clock.set(at(date(2026, 5, 6)))
    async with services.database.transaction() as session:
        await cases.accept(services.backend(session), case_id, "staff:li")
    scheduler = Scheduler(services)

    clock.set(at(date(2026, 5, 8)))  # acceptance would be overdue, but it was decided in time
    assert (await scheduler.apply_rules()).cases == 0

    clock.set(at(date(2026, 5, 18)))  # the working day before the answer is due (Tue 19 May)
    assert (await scheduler.apply_rules()).reminders == 1
    clock.set(at(date(2026, 5, 20)))
    assert (await scheduler.apply_rules()).yellow == 1
    assert await marks(services) == [("answer", "reminder"), ("answer", "yellow")]

    async with services.database.transaction() as session:
        await cases.reply(services.backend(session), case_id, "staff:li", "路灯已于5月20日修复。")
    clock.set(at(date(2026, 6, 30)))  # answered, however late: no red card for it any more
    assert (await scheduler.apply_rules()).cases == 0


async def test_a_worker_down_past_the_deadline_warns_without_a_stale_reminder(
    services: Services, clock: FixedClock
) -> None:
    await submit_friday_complaint(services, clock)
    clock.set(at(date(2026, 5, 20)))  # acceptance long overdue, answer overdue since yesterday
    report = await Scheduler(services).apply_rules()
    assert (report.reminders, report.yellow, report.red) == (0, 2, 1)
    assert await marks(services) == [("accept", "yellow"), ("accept", "red"), ("answer", "yellow")]


async def test_a_restarted_worker_repeats_nothing(services: Services, clock: FixedClock) -> None:
    await submit_friday_complaint(services, clock)
    clock.set(at(date(2026, 4, 30)))
    first = Scheduler(services, holder="worker-1", interval=timedelta(minutes=1))
    assert await first.run_once() is not None

    # The "restarted" process is a new scheduler with a new identity, once the interval has passed.
    clock.advance(minutes=2)
    second = Scheduler(services, holder="worker-1-restarted", interval=timedelta(minutes=1))
    report = await second.run_once()
    assert report is not None and report.cases == 0
    assert await marks(services) == [("accept", "reminder")]


async def test_the_lease_lets_one_worker_run_per_interval(services: Services, clock: FixedClock) -> None:
    await submit_friday_complaint(services, clock)
    clock.set(at(date(2026, 4, 30)))
    one = Scheduler(services, holder="one", interval=timedelta(minutes=1))
    two = Scheduler(services, holder="two", interval=timedelta(minutes=1))
    results = await asyncio.gather(one.run_once(), two.run_once())
    assert sum(result is not None for result in results) == 1
    assert await two.run_once() is None  # not due again yet
    clock.advance(seconds=61)
    assert await two.run_once() is not None
    assert await marks(services) == [("accept", "reminder")]


async def test_a_dead_holder_blocks_the_rules_only_for_its_lease(
    services: Services, clock: FixedClock
) -> None:
    clock.set(at(date(2026, 4, 30)))
    dead = Scheduler(services, holder="dead", lease=timedelta(minutes=5))
    assert await dead._claim()  # claimed, then the process "died" without releasing
    other = Scheduler(services, holder="other")
    assert await other.run_once() is None
    clock.advance(minutes=6)
    assert await other.run_once() is not None


async def test_two_workers_racing_on_one_case_record_it_once(services: Services, clock: FixedClock) -> None:
    """No lease: two transactions at once (two sessions on PostgreSQL), the second started before the
    first commits."""
    case_id = await submit_friday_complaint(services, clock)
    clock.set(at(date(2026, 5, 7)))
    database = services.database
    first_done = asyncio.Event()

    async def second_worker() -> list[reminders.Raised]:
        await first_done.wait()
        async with database.transaction() as session:
            return await reminders.raise_for_case(services.backend(session), case_id)

    racing = asyncio.create_task(second_worker())
    async with database.transaction() as session:
        raised = await reminders.raise_for_case(services.backend(session), case_id)
        first_done.set()  # the second starts while this transaction is still open
        await asyncio.sleep(0.2)
    assert [mark.kind for mark in raised] == ["yellow"]
    assert await racing == []
    assert len(await overdue_warnings(services)) == 1
    assert [action for action, _ in await events(services, case_id)] == ["warning"]


async def test_staff_get_an_sms_but_not_at_night(services: Services, clock: FixedClock) -> None:
    await submit_friday_complaint(services, clock)
    staff = StaffPhones({("county", "县住建局"): STAFF_PHONE}, frozenset({"county"}))
    clock.set(at(date(2026, 4, 30), 0, 5))  # just after midnight: the reminder is recorded now
    report = await Scheduler(services, staff=staff).apply_rules()
    assert report.staff_sms == 1
    async with services.database.reading() as session:
        (row,) = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == STAFF_NOTICE)))
    assert row.channel == "sms" and services.keyring.decrypt(row.address_enc) == STAFF_PHONE
    assert row.next_attempt_at == at(date(2026, 4, 30), 8, 0)  # held until quiet hours end
    assert "县住建局" in row.payload["text"] and "5月6日" in row.payload["text"]

    other_bot = StaffPhones({("county", "县住建局"): STAFF_PHONE}, frozenset())  # a bot without SMS
    clock.set(at(date(2026, 5, 7), 10))
    assert (await Scheduler(services, staff=other_bot).apply_rules()).staff_sms == 0


async def test_the_service_runs_the_scheduler_in_the_background(
    database: Database, tmp_path: Path, clock: FixedClock
) -> None:
    url = database.url.render_as_string(hide_password=False)
    settings = Settings(
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        database_url=url,
        bots={"county": BotSettings(departments=["县住建局"], staff_phones={"县住建局": "13900000001"})},
    )
    deployment = bootstrap(settings, password_cost="fast", clock=clock)
    try:
        services = deployment.services
        case_id = await submit_friday_complaint(services, clock)
        clock.set(at(date(2026, 4, 30)))
        stop = asyncio.Event()
        async with scheduler.running(deployment, stop):
            for _ in range(100):
                if await marks(services):
                    break
                await asyncio.sleep(0.05)
        assert stop.is_set()
        assert await marks(services) == [("accept", "reminder")]
        assert [action for action, _ in await events(services, case_id)] == ["reminder"]
        # This bot has no SMS channel, so the configured staff phone gets nothing.
        async with services.database.reading() as session:
            assert (
                list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == STAFF_NOTICE)))
                == []
            )
    finally:
        await deployment.close()


async def _needing_marks_all_at_once(services: Services, today: date) -> list[int]:
    """The old reading, every open case as one list, as the oracle the batched reading must match."""
    async with services.database.reading() as session:
        b = services.backend(session)
        wanted = {
            case.id: {
                (deadline.stage, kind)
                for deadline in deadlines.pending_stages(case, b.policy, b.calendar, b.zone)
                for kind in reminders.marks_due(deadline, today)
            }
            for case in await deadlines.open_cases(b)
        }
        rows = await session.execute(select(DeadlineMark.case_id, DeadlineMark.stage, DeadlineMark.kind))
        done: dict[int, set[tuple[str, str]]] = {}
        for case_id, stage, kind in rows:
            done.setdefault(case_id, set()).add((stage, kind))
    return sorted(i for i, marks in wanted.items() if i is not None and marks - done.get(i, set()))


async def test_open_cases_are_read_in_batches_with_the_same_answer(
    services: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of three over eight cases: open, closed, merged, marked, not yet due, across the seams."""
    ids = [await submit_friday_complaint(services, clock) for _ in range(6)]
    clock.set(at(date(2026, 5, 6), 10))  # accepting this one is not due before 18 May
    ids.append(await submit_complaint_now(services))
    ids.append(await submit_friday_complaint(services, clock))
    first, marked, accepted, merged, closed, half_marked, recent, last = ids
    async with services.database.transaction() as session:
        await session.execute(update(Case).where(Case.id == accepted).values(status="accepted"))
        await session.execute(update(Case).where(Case.id == merged).values(primary_id=first))
        await session.execute(update(Case).where(Case.id == closed).values(status="closed"))
        for case_id, kind in ((marked, "yellow"), (half_marked, "reminder")):
            session.add(
                DeadlineMark(
                    bot_id="county",
                    case_id=case_id,
                    stage="accept",
                    kind=kind,
                    due_on=date(2026, 5, 6),
                    at=clock.now(),
                )
            )
    today = date(2026, 5, 7)  # acceptance of the Friday complaints overdue since yesterday
    monkeypatch.setattr(reminders, "BATCH", 3)

    async with services.database.reading() as session:
        batched = await reminders.cases_needing_marks(services.backend(session), today)

    assert batched == [first, half_marked, last]
    assert batched == await _needing_marks_all_at_once(services, today)
    assert recent not in batched
