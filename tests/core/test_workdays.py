from __future__ import annotations

from datetime import date

import pytest

from core.workdays import WorkCalendar


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_2026_national_day_week(cal: WorkCalendar) -> None:
    # 1–7 October 2026 are off; Sunday 20 September and Saturday 10 October are make-up working days.
    assert cal.is_workday(date(2026, 9, 20))  # Sunday, 调休
    assert not cal.is_workday(date(2026, 9, 25))  # Friday, 中秋
    assert not cal.is_workday(date(2026, 10, 1))  # Thursday
    assert not cal.is_workday(date(2026, 10, 5))  # Monday
    assert not cal.is_workday(date(2026, 10, 7))  # Wednesday
    assert cal.is_workday(date(2026, 10, 8))  # Thursday
    assert cal.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert not cal.is_workday(date(2026, 10, 11))  # Sunday
    # From Wednesday 30 September: Thu 8, Fri 9, Sat 10, then Mon 12 October.
    assert cal.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.add_workdays(date(2026, 9, 30), 4) == date(2026, 10, 12)


def test_2026_spring_festival(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2026, 2, 14))  # Saturday, 调休 before the holiday
    assert not cal.is_workday(date(2026, 2, 16))  # Monday, 除夕
    assert not cal.is_workday(date(2026, 2, 23))  # Monday, still off
    assert cal.is_workday(date(2026, 2, 28))  # Saturday, 调休 after it
    # Friday 13 February + 1 → Saturday 14; + 2 → Tuesday 24 (15–23 are off).
    assert cal.add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.add_workdays(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_start_day_is_not_counted(cal: WorkCalendar) -> None:
    monday = date(2026, 3, 2)
    assert cal.add_workdays(monday, 0) == monday
    assert cal.add_workdays(monday, 1) == date(2026, 3, 3)
    assert cal.add_workdays(monday, 5) == date(2026, 3, 9)
    # From a Saturday the first working day after is Monday.
    assert cal.add_workdays(date(2026, 3, 7), 1) == date(2026, 3, 9)


def test_years_without_data_fall_back_to_monday_to_friday(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2099, 1, 1))  # a Thursday: no holiday data for 2099
    assert not cal.is_workday(date(2099, 1, 3))  # Saturday
    assert cal.add_workdays(date(2099, 1, 2), 1) == date(2099, 1, 5)  # Friday → Monday
    assert cal.add_workdays(date(2099, 1, 2), 15) == date(2099, 1, 23)


def test_configured_days_override_both_library_and_fallback() -> None:
    cal = WorkCalendar(
        extra_holidays=[date(2099, 1, 1), date(2026, 3, 3)],
        extra_workdays=[date(2099, 1, 3), date(2026, 10, 1)],
    )
    assert not cal.is_workday(date(2099, 1, 1))
    assert cal.is_workday(date(2099, 1, 3))
    assert not cal.is_workday(date(2026, 3, 3))
    assert cal.is_workday(date(2026, 10, 1))
    assert cal.add_workdays(date(2026, 3, 2), 1) == date(2026, 3, 4)


def test_contradictory_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkCalendar(extra_holidays=[date(2026, 5, 9)], extra_workdays=[date(2026, 5, 9)])


def test_negative_days_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_workdays(date(2026, 3, 2), -1)
