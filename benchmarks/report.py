"""The rows every benchmark returns, and the markdown table they are printed and saved as."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One measured figure, with the baseline it is judged against (when there is one).

    `ratio` is measured/baseline for rates and baseline/measured never: each benchmark states the ratio
    it reports in `measure`, so a reader never has to guess which way round it is.
    `met` is None where the figure has no target.
    """

    area: str
    measure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    notes: str = ""


@dataclass
class Section:
    """A benchmark's rows plus the prose that says how it was measured (load generator, sizes, pinning)."""

    title: str
    rows: list[Row] = field(default_factory=list)
    method: str = ""


def _verdict(met: bool | None) -> str:
    if met is None:
        return ""
    return "yes" if met else "**no**"


def table(rows: Iterable[Row]) -> str:
    header = "| Area | Measure | Value | Baseline | Ratio | Target | Met | Notes |"
    rule = "|---|---|---|---|---|---|---|---|"
    lines = [header, rule]
    for row in rows:
        cells = (row.area, row.measure, row.value, row.baseline, row.ratio, row.target, _verdict(row.met),
                 row.notes)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.platform()}, Python {sys.version.split()[0]}, {cores} cores"


def document(sections: Sequence[Section], *, size: str, seconds: float) -> str:
    """The whole performance page: one summary table, then each section's method and rows."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Performance",
        "",
        f"Measured {stamp} on {machine()}; size `{size}`; {seconds:.0f} s in all. "
        "Regenerate with `uv run --locked python -m benchmarks` (this page is written by it).",
        "",
        "Every figure sits next to a baseline measured in the same run, because the machines are shared "
        "and noisy: compare ratios between runs, not absolute numbers. Targets are goals for the code, "
        "not test assertions.",
        "",
        "## Summary",
        "",
        table(row for section in sections for row in section.rows),
    ]
    for section in sections:
        parts += ["", f"## {section.title}", ""]
        if section.method:
            parts += [section.method.strip(), ""]
        parts.append(table(section.rows))
    return "\n".join(parts) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
