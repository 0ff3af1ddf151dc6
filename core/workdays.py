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
        # Answers remembered per day: chinese_calendar checks its argument at ~25 µs a call, and the
        # scheduler's pass over open cases asks about the same few thousand days millions of times
        # (0.6 ms of CPU per case, 1.2 s of a stalled event loop per 2 000 cases, before this).
        self._known: dict[date, bool] = {}
        self._added: dict[tuple[date, int], date] = {}

    def is_workday(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._look_up(day)
        return known

    def _look_up(self, day: date) -> bool:
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
        found = self._added.get((start, days))
        if found is None:
            found = self._added[(start, days)] = self._count_from(start, days)
        return found

    def _count_from(self, start: date, days: int) -> date:
        day = start
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day
