"""The rules a deployment can tune. Plain data, filled from settings by `bots`; the defaults are sane."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

CASE_KINDS: tuple[str, ...] = ("complaint", "tip", "suggestion", "question")


def _default_answer_days() -> dict[str, int]:
    # Working days until an answer is due; the 信访条例 gives 60 days for handling, counties promise less.
    return {"complaint": 15, "tip": 30, "suggestion": 15, "question": 5}


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
