"""Quiet hours: no message the citizen did not ask for arrives at night.

A survey or a staff notice queued at 22:00 waits in the outbox until the morning rather than waking
someone; answers to a citizen's own messages are not held, since the citizen is awake and waiting.
The hours are local to the county, and a period may span midnight (21:00–08:00) or not (12:00–14:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

QuietHours = tuple[time, time] | None


def _active(quiet: QuietHours) -> tuple[time, time] | None:
    if quiet is None or quiet[0] == quiet[1]:
        return None
    return quiet


def is_quiet(when: datetime, quiet: QuietHours, zone: ZoneInfo) -> bool:
    period = _active(quiet)
    if period is None:
        return False
    start, end = period
    local = when.astimezone(zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(when: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime:
    """`when` itself outside quiet hours, otherwise the moment they end."""
    period = _active(quiet)
    if period is None or not is_quiet(when, quiet, zone):
        return when
    start, end = period
    local = when.astimezone(zone)
    day = local.date()
    if start > end and local.time() >= start:  # the evening part of a period that ends tomorrow
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def next_start(when: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime | None:
    """The first moment at or after `when` that quiet hours begin; None without quiet hours."""
    period = _active(quiet)
    if period is None:
        return None
    local = when.astimezone(zone)
    start = datetime.combine(local.date(), period[0], tzinfo=zone)
    if start < local:
        start = datetime.combine(local.date() + timedelta(days=1), period[0], tzinfo=zone)
    return start.astimezone(UTC)


def held_over(now: datetime, send_at: datetime, quiet: QuietHours, zone: ZoneInfo) -> bool:
    """True when quiet hours fall between now and `send_at`: the message waits for another day."""
    if is_quiet(now, quiet, zone):
        return True
    start = next_start(now, quiet, zone)
    return start is not None and start <= send_at
