"""The deadline scheduler: runs the rules of `core.reminders` every so often, in the worker and in
`sunshine serve`, and tells the department's staff by SMS where a phone is configured.

Several processes may run it. They take turns through one lease row (`scheduler_leases`): a process
runs the rules only when the lease is free and due, holds it while it runs, and on finishing sets it to
the next run's time, so the rules run about once per interval however many workers there are. A
process that dies while holding it delays the rules by the lease length, nothing more. The lease only
saves work: what keeps a reminder from being sent twice is the unique mark per case, stage and kind,
which holds even if two processes did run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bots.pipeline import Services
from core import outbox, quiet_hours, reminders
from core.backend import Backend
from core.deadlines import local_today, workdays_between
from core.messages import Outbound
from core.reminders import Raised
from storage.schedule_models import SchedulerLease

if TYPE_CHECKING:
    from aiohttp import web

    from bots.bootstrap import Deployment

log = logging.getLogger(__name__)

JOB = "deadline_rules"
STAFF_NOTICE = "staff_notice"
STAFF_CHANNEL = "sms"
_STOP_GRACE_SECONDS = 10.0

# Staff read these, not citizens: they are the county's working language and stay out of the
# citizens' catalogs. No citizen's words or identity are in them, only the case number.
_KIND = {"complaint": "投诉", "tip": "举报", "suggestion": "建议", "question": "咨询"}
_STAGE = {"accept": "受理", "answer": "答复"}
_STAFF_TEXT = {
    reminders.REMINDER: "【阳光政务】提醒：{department}承办的{number}号{kind}，"
    "{stage}期限为{due}，请及时办理。",
    reminders.YELLOW: "【阳光政务】黄牌预警：{department}承办的{number}号{kind}"
    "已超过{stage}期限（{due}），请尽快办理。",
    reminders.RED: "【阳光政务】红牌预警：{department}承办的{number}号{kind}{stage}已超期{days}个工作日"
    "（期限{due}），已报纪检监察部门。",
}


@dataclass(frozen=True)
class StaffPhones:
    """Where each department's staff get SMS notices, per bot; bots without SMS send none."""

    phones: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (bot, department) → phone
    sms_bots: frozenset[str] = frozenset()

    def phone_for(self, bot_id: str, department: str | None) -> str | None:
        if department is None or bot_id not in self.sms_bots:
            return None
        return self.phones.get((bot_id, department))


@dataclass
class RunReport:
    cases: int = 0
    reminders: int = 0
    yellow: int = 0
    red: int = 0
    staff_sms: int = 0

    def count(self, kind: str) -> None:
        if kind == reminders.REMINDER:
            self.reminders += 1
        elif kind == reminders.YELLOW:
            self.yellow += 1
        elif kind == reminders.RED:
            self.red += 1

    def to_json(self) -> dict[str, int]:
        return dict(vars(self))


class Scheduler:
    def __init__(
        self,
        services: Services,
        *,
        staff: StaffPhones | None = None,
        interval: timedelta = timedelta(minutes=1),
        lease: timedelta = timedelta(minutes=5),
        holder: str | None = None,
    ) -> None:
        self.services = services
        self.staff = staff or StaffPhones()
        self.interval = interval
        self.lease = lease  # longer than any run; a dead holder blocks the rules this long at most
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run the rules whenever they are due until `stop` is set; database trouble only delays them."""
        stop = stop or asyncio.Event()
        pause = min(self.interval.total_seconds(), 30.0)
        while not stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next turn tries again; the marks make a retry harmless
                log.error("deadline rules failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)

    async def run_once(self) -> RunReport | None:
        """One run if this process gets the lease; None when another process has it or it is not due."""
        if not await self._claim():
            return None
        report = RunReport()
        try:
            report = await self.apply_rules()
        finally:
            await self._release(report)
        return report

    async def apply_rules(self) -> RunReport:
        """Record every reminder and warning due today, one short transaction per case."""
        database = self.services.database
        report = RunReport()
        today: date | None = None
        after: int | None = 0
        while after is not None:
            async with database.reading() as session:
                b = self.services.backend(session)
                today = today or local_today(b)
                case_ids, after = await reminders.next_needing_marks(b, today, after)
            for case_id in case_ids:
                async with database.transaction() as session:
                    b = self.services.backend(session)
                    raised = await reminders.raise_for_case(b, case_id, today)
                    for mark in raised:
                        report.staff_sms += await self._tell_staff(b, mark, today)
                report.cases += 1 if raised else 0
                for mark in raised:
                    report.count(mark.kind)
        if report.cases:
            log.info("deadline rules: %s", report.to_json())
        return report

    async def _tell_staff(self, b: Backend, mark: Raised, today: date) -> int:
        """Queue the SMS to the department's staff in the mark's own transaction: once, or not at all."""
        phone = self.staff.phone_for(mark.bot_id, mark.department)
        if phone is None:
            return 0
        text = _STAFF_TEXT[mark.kind].format(
            department=mark.department,
            number=mark.number,
            kind=_KIND.get(mark.case_kind, "事项"),
            stage=_STAGE.get(mark.stage, mark.stage),
            due=f"{mark.due_on.month}月{mark.due_on.day}日",
            days=workdays_between(b.calendar, mark.due_on, today),
        )
        row = await outbox.enqueue(
            b,
            bot_id=mark.bot_id,
            channel=STAFF_CHANNEL,
            address=phone,
            outbound=Outbound(text),
            kind=STAFF_NOTICE,
        )
        row.next_attempt_at = quiet_hours.next_allowed(b.clock.now(), b.policy.quiet_hours, b.zone)
        await b.session.flush()
        return 1

    async def _claim(self) -> bool:
        now = self.services.clock.now()
        async with self.services.database.transaction() as session:
            query = select(SchedulerLease).where(SchedulerLease.name == JOB).with_for_update(skip_locked=True)
            lease = (
                await session.execute(query.execution_options(populate_existing=True))
            ).scalar_one_or_none()
            if lease is None:
                try:
                    async with session.begin_nested():
                        session.add(
                            SchedulerLease(name=JOB, holder=self.holder, lease_until=now + self.lease)
                        )
                except IntegrityError:  # it exists and another process holds it right now
                    return False
                return True
            if lease.lease_until is not None and lease.lease_until > now:
                return False
            lease.holder = self.holder
            lease.lease_until = now + self.lease
            return True

    async def _release(self, report: RunReport) -> None:
        """Hand the lease back with the next run's time, unless it has run out and someone else has it."""
        now = self.services.clock.now()
        async with self.services.database.transaction() as session:
            lease = await session.get(SchedulerLease, JOB, with_for_update=True, populate_existing=True)
            if lease is None or lease.holder != self.holder:
                return
            lease.holder = None
            lease.lease_until = now + self.interval
            lease.last_run_at = now
            lease.last_result = report.to_json()


# ---------------------------------------------------------------- wiring


def for_deployment(deployment: Deployment) -> Scheduler:
    """The scheduler of a running service, with the staff phones its settings name."""
    bots = deployment.settings.bots
    phones = {
        (bot_id, department): phone
        for bot_id, bot in bots.items()
        for department, phone in bot.staff_phones.items()
    }
    sms_bots = frozenset(
        bot_id for bot_id, names in deployment.bot_channels.items() if STAFF_CHANNEL in names
    )
    return Scheduler(deployment.services, staff=StaffPhones(phones, sms_bots))


@contextlib.asynccontextmanager
async def running(deployment: Deployment, stop: asyncio.Event) -> AsyncIterator[asyncio.Task[None]]:
    """The scheduler as a background task for as long as the block runs; stopped gently on the way out."""
    task = asyncio.create_task(for_deployment(deployment).run(stop), name="deadline-scheduler")
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, _STOP_GRACE_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def in_app(deployment: Deployment) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context for `sunshine serve`: the scheduler runs next to the outbox dispatcher."""

    async def scheduling(app: web.Application) -> AsyncIterator[None]:
        async with running(deployment, asyncio.Event()):
            yield

    return scheduling
