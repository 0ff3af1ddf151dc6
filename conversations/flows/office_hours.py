"""When a person is at the desk, so a citizen handed over at night is told when to expect an answer.

Office hours are read in the deployment's time zone. With `use_workday_calendar` the national
holiday schedule counts too: no answer on 国庆节 even though it is a weekday, and an answer on a
调休 Saturday, when government offices do work.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from core.workdays import WorkCalendar

if TYPE_CHECKING:
    from conversations.engine import OfficeHours

_SEARCH_DAYS = 60  # the longest holiday (Spring Festival) plus margin; beyond that, give up saying when


def is_open_day(day: date, hours: OfficeHours, calendar: WorkCalendar | None) -> bool:
    if calendar is None:
        return day.weekday() in hours.weekdays
    if not calendar.is_workday(day):
        return False
    # A weekend day the calendar makes a working day (调休) is open even if `weekdays` omits it.
    return day.weekday() in hours.weekdays or day.weekday() >= 5


def next_opening(now: datetime, hours: OfficeHours, calendar: WorkCalendar | None) -> datetime | None:
    """None when someone answers now; otherwise when the desk next opens (in `now`'s time zone)."""
    opens = time.fromisoformat(hours.opens)
    closes = time.fromisoformat(hours.closes)
    today = now.date()
    if is_open_day(today, hours, calendar):
        if opens <= now.time() < closes:
            return None
        if now.time() < opens:
            return datetime.combine(today, opens, tzinfo=now.tzinfo)
    for offset in range(1, _SEARCH_DAYS + 1):
        day = today + timedelta(days=offset)
        if is_open_day(day, hours, calendar):
            return datetime.combine(day, opens, tzinfo=now.tzinfo)
    return None  # nobody ever works: say nothing rather than something wrong
