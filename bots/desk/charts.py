"""Chart geometry for server-rendered inline SVG: no chart library, no script, nothing from a CDN.

Functions here only compute coordinates and labels; the templates draw them, and Jinja escapes every
label (group names are whatever staff typed into a survey spreadsheet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from bots.desk.ratings_stats import GroupRow, Series

WIDTH = 760
LINE_HEIGHT = 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 150, 16, 40
_MAX_X_LABELS = 8
BAR_ROW = 26


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    name: str
    index: int  # colour slot in the stylesheet
    segments: list[str]  # "x,y x,y ..." for each unbroken run of buckets with ratings
    points: list[Point]
    legend_y: float


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend_x: float


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def floor_of(series: list[Series]) -> float:
    """The lowest rate shown: rates sit between 70% and 100% in practice, and a 0% floor would squash
    every difference a supervisor needs to see into a flat band at the top."""
    rates = [rate for one in series for rate in one.rates if rate is not None]
    if not rates:
        return 0.0
    return max(0.0, math.floor((min(rates) - 0.05) * 5) / 5)  # a multiple of 20%: round tick labels


def line_chart(buckets: list[date], series: list[Series], bucket_label: str) -> LineChart:
    right = WIDTH - _RIGHT
    bottom = LINE_HEIGHT - _BOTTOM
    plot_w, plot_h = right - _LEFT, bottom - _TOP
    count = len(buckets)
    floor = floor_of(series)

    def x(position: int) -> float:
        return _LEFT + (plot_w / 2 if count == 1 else position * plot_w / (count - 1))

    def y(rate: float) -> float:
        return _TOP + (1 - rate) / (1 - floor) * plot_h

    lines = []
    for slot, one in enumerate(series):
        segments: list[str] = []
        run: list[str] = []
        points = []
        for position, (rate, total) in enumerate(zip(one.rates, one.totals, strict=True)):
            if rate is None:
                if run:
                    segments.append(" ".join(run))
                run = []
                continue
            px, py = round(x(position), 1), round(y(rate), 1)
            run.append(f"{px},{py}")
            when = buckets[position].isoformat()
            points.append(
                Point(px, py, f"{one.name} · {when}起一{bucket_label}：{percent(rate)}（{total}条）")
            )
        if run:
            segments.append(" ".join(run))
        lines.append(Line(one.name, slot, segments, points, legend_y=_TOP + 8 + slot * 20))

    step = max(1, -(-count // _MAX_X_LABELS))
    x_ticks = [Tick(round(x(i), 1), buckets[i].strftime("%m-%d")) for i in range(0, count, step)]
    levels = [floor + (1 - floor) * step / 4 for step in range(5)]
    y_ticks = [Tick(round(y(level), 1), f"{level * 100:.0f}%") for level in levels]
    return LineChart(WIDTH, LINE_HEIGHT, _LEFT, right, _TOP, bottom, lines, y_ticks, x_ticks, right + 16)


@dataclass(frozen=True)
class Bar:
    name: str
    y: float
    length: float
    rate: str
    total: int
    low: bool


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    label_width: int
    plot_width: int
    bars: list[Bar]


def bar_chart(groups: list[GroupRow], *, low_below: float = 0.8, limit: int = 20) -> BarChart:
    """Satisfaction rate per group as horizontal bars; groups below `low_below` are marked."""
    label_width, plot_width = 150, WIDTH - 150 - 120
    bars = []
    for row, group in enumerate(groups[:limit]):
        rate = group.tally.rate
        bars.append(
            Bar(
                name=group.name,
                y=row * BAR_ROW,
                length=round((rate or 0) * plot_width, 1),
                rate=percent(rate),
                total=group.tally.total,
                low=rate is not None and rate < low_below,
            )
        )
    return BarChart(WIDTH, max(BAR_ROW, len(bars) * BAR_ROW), label_width, plot_width, bars)
