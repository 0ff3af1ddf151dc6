"""The rules a deployment can tune. Plain data, filled from settings by `bots`; the defaults are sane."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

CASE_KINDS: tuple[str, ...] = ("complaint", "tip", "suggestion", "question")


def _default_answer_days() -> dict[str, int]:
    # Working days until an answer is due; the 信访条例 gives 60 days for handling, counties promise less.
    return {"complaint": 15, "tip": 30, "suggestion": 15, "question": 5}


def _default_accept_days() -> dict[str, int]:
    # Working days to decide whether a case is taken on (受理) at all; a question is quick to judge.
    return {"complaint": 5, "tip": 5, "suggestion": 5, "question": 2}


@dataclass(frozen=True)
class Policy:
    timezone: str = "Asia/Shanghai"
    answer_days: dict[str, int] = field(default_factory=_default_answer_days)
    lookup_hint_after: int = 3  # failures on one case after which the reply explains the limit
    lookup_lock_after: int = 5  # failures on one case within the window that lock it
    lookup_window_minutes: int = 60
    lookup_lock_minutes: int = 60
    sender_lock_after: int = 10  # failures by one sender (any case, any subsidy query) per window
    survey_expiry_hours: int = 72
    low_grades: frozenset[int] = frozenset({3, 4})
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    outbox_max_attempts: int = 8
    outbox_backoff_seconds: float = 5.0
    outbox_backoff_cap_seconds: float = 3600.0
    # How long a worker holds the outbox rows it claimed; its sends time out at half of it.
    outbox_lease_seconds: float = 60.0
    accept_days: dict[str, int] = field(default_factory=_default_accept_days)
    reminder_days: int = 1  # working days before a deadline that the department is reminded
    red_after_days: int = 5  # working days past a deadline (already yellow) that turn it red
    rating_correction_minutes: int = 10  # a second survey reply within this replaces the first
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(8, 0))  # no unsolicited SMS (local time)
    survey_rate_per_minute: int = 30  # surveys one sender sends per minute, paced when queued
    # Repeated petitions: a new report is linked to an open case of the last `duplicate_window_days` when
    # its text scores at least `duplicate_threshold` (0–100) against a case of the same department and
    # kind, or `duplicate_sender_threshold` against any case of the same person (who may retell it).
    duplicate_threshold: float = 85.0
    duplicate_sender_threshold: float = 50.0
    duplicate_window_days: int = 60
    duplicate_min_chars: int = 10  # shorter texts ("路灯坏了") match too much to link by text alone
    duplicate_candidates: int = 50  # cases scored at most per path (same text, same person)
