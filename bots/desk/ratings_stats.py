"""Satisfaction for supervisors: per department, window or staff member, and over time.

The rate is (满意 + 基本满意) / all ratings, as `core.ratings` defines it. Time buckets are counted in
Python from (time, grade, group) rows: bucketing dates in SQL differs between SQLite and PostgreSQL,
and a county's ratings for a year are a few tens of thousands of small rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.backend import Backend
from core.ratings import GRADE_KEYS, SATISFIED_GRADES
from storage.models import Rating

PERIODS = {"30": 30, "90": 90, "365": 365}
GROUPS = {"department": "部门", "window": "窗口", "staff": "工作人员"}
TOP_SERIES = 5
UNNAMED = "（未填）"


@dataclass(frozen=True)
class RatingFilters:
    period: str = "90"
    group: str = "department"
    department: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> RatingFilters:
        period = query.get("period", "90")
        group = query.get("group", "department")
        return cls(
            period=period if period in PERIODS else "90",
            group=group if group in GROUPS else "department",
            department=query.get("department", "").strip()[:128],
        )

    @property
    def days(self) -> int:
        return PERIODS[self.period]

    def as_query(self) -> dict[str, str]:
        pairs = {"period": self.period, "group": self.group, "department": self.department}
        return {key: value for key, value in pairs.items() if value}


@dataclass
class Tally:
    """Counts per grade; the rate is None until someone rated."""

    counts: dict[int, int] = field(default_factory=lambda: dict.fromkeys(GRADE_KEYS, 0))

    def add(self, grade: int) -> None:
        self.counts[grade] = self.counts.get(grade, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def satisfied(self) -> int:
        return sum(self.counts.get(grade, 0) for grade in SATISFIED_GRADES)

    @property
    def rate(self) -> float | None:
        return self.satisfied / self.total if self.total else None


@dataclass(frozen=True)
class GroupRow:
    name: str
    tally: Tally


@dataclass(frozen=True)
class Series:
    name: str
    rates: list[float | None]  # one per bucket
    totals: list[int]


@dataclass(frozen=True)
class Dashboard:
    since: date
    until: date
    overall: Tally
    groups: list[GroupRow]
    buckets: list[date]
    bucket_label: str  # 周 or 月
    series: list[Series]


def _bucket_start(day: date, monthly: bool) -> date:
    if monthly:
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def _buckets(since: date, until: date, monthly: bool) -> list[date]:
    starts: list[date] = []
    current = _bucket_start(since, monthly)
    while current <= until:
        starts.append(current)
        if monthly:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            current += timedelta(days=7)
    return starts


def _group_column(group: str) -> Any:
    return {"department": Rating.department, "window": Rating.window, "staff": Rating.staff_name}[group]


async def rows(b: Backend, filters: RatingFilters, since: datetime) -> list[tuple[datetime, int, str | None]]:
    query = select(Rating.created_at, Rating.grade, _group_column(filters.group)).where(
        Rating.created_at >= since
    )
    if filters.department:
        query = query.where(Rating.department == filters.department)
    return [(at, grade, name) for at, grade, name in await b.session.execute(query)]


async def dashboard(b: Backend, filters: RatingFilters, now: datetime, zone: ZoneInfo) -> Dashboard:
    until = now.astimezone(zone).date()
    since = until - timedelta(days=filters.days - 1)
    start = datetime.combine(since, datetime.min.time(), tzinfo=zone)
    monthly = filters.days > 90
    buckets = _buckets(since, until, monthly)
    index = {bucket: position for position, bucket in enumerate(buckets)}

    overall = Tally()
    by_group: dict[str, Tally] = {}
    per_bucket: dict[str, list[Tally]] = {}
    overall_buckets = [Tally() for _ in buckets]
    for at, grade, name in await rows(b, filters, start):
        group = name or UNNAMED
        position = index.get(_bucket_start(at.astimezone(zone).date(), monthly))
        if position is None:  # rated after "now" (a clock moved back): not in any bucket shown
            continue
        overall.add(grade)
        overall_buckets[position].add(grade)
        by_group.setdefault(group, Tally()).add(grade)
        per_bucket.setdefault(group, [Tally() for _ in buckets])[position].add(grade)

    groups = sorted(
        (GroupRow(name, tally) for name, tally in by_group.items()),
        key=lambda row: (-row.tally.total, row.name),
    )
    series = [Series("全部", [t.rate for t in overall_buckets], [t.total for t in overall_buckets])]
    for row in groups[:TOP_SERIES]:
        tallies = per_bucket[row.name]
        series.append(Series(row.name, [t.rate for t in tallies], [t.total for t in tallies]))
    return Dashboard(
        since=since,
        until=until,
        overall=overall,
        groups=groups,
        buckets=buckets,
        bucket_label="月" if monthly else "周",
        series=series,
    )


async def ratings_in(b: Backend, filters: RatingFilters, since: datetime) -> list[Rating]:
    """The ratings themselves, for the CSV export."""
    query = select(Rating).where(Rating.created_at >= since)
    if filters.department:
        query = query.where(Rating.department == filters.department)
    return list(await b.session.scalars(query.order_by(Rating.created_at, Rating.id)))
