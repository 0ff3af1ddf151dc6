"""Working days in mainland China, for answer deadlines.

Deadlines are promised in working days, and China's public holidays move every year and come with
调休: weekend days that become working days to bridge a holiday. `chinese_calendar` ships the State
Council's schedule for the years it knows; past them we fall back to Monday–Friday and let the
deployment's settings name extra holidays and make-up days (the schedule for next year is published
each November, usually before a library release).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar


class WorkCalendar:
    def __init__(self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> None:
        self._holidays = frozenset(extra_holidays)
        self._workdays = frozenset(extra_workdays)
        both = self._holidays & self._workdays
        if both:
            raise ValueError(f"days configured both as holiday and as workday: {sorted(both)}")

    def is_workday(self, day: date) -> bool:
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the library has no schedule for
            return day.weekday() < 5

    def add_workdays(self, start: date, days: int) -> date:
        """The `days`-th working day after `start`; `start` itself never counts, even if it is one."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day
