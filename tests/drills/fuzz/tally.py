"""What a fuzzing run saw: cases, statuses, and each distinct problem with the first case that showed it."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_SHOWN = 400  # characters of a case in a finding: enough to reproduce it, not a 64 KiB body


@dataclass
class Tally:
    name: str
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    findings: dict[str, tuple[int, str]] = field(default_factory=dict)  # problem → (times seen, first case)
    database_checks: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, status: str, problems: list[str], case: Any) -> None:
        self.cases += 1
        self.statuses[status] += 1
        self.note(problems, case)

    def note(self, problems: list[str], case: Any) -> None:
        for problem in problems:
            key = _kind(problem)
            seen, first = self.findings.get(key, (0, f"{problem}\n    case: {_shown(case)}"))
            if not seen:  # shown at once: a run that dies later must not take its findings with it
                print(f"   new finding after {self.cases} cases: {first}", flush=True)
            self.findings[key] = (seen + 1, first)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds > 0 else 0.0

    def progress(self) -> str:
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(self.statuses.items()))
        return (
            f"{self.name}: {self.cases} cases, {self.rate:.0f}/s, {len(self.findings)} finding(s) "
            f"[{statuses}]"
        )

    def summary(self) -> str:
        lines = [
            f"== {self.name}: {self.cases} cases in {self.seconds:.0f} s ({self.rate:.0f} cases/s), "
            f"{self.database_checks} database checks",
            "   statuses: " + ", ".join(f"{s} ×{n}" for s, n in sorted(self.statuses.items())),
        ]
        if not self.findings:
            lines.append("   findings: none")
        for seen, first in self.findings.values():
            lines.append(f"   FINDING ×{seen}: {first}")
        return "\n".join(lines)


def _kind(problem: str) -> str:
    """Problems differing only in numbers or quoted detail count as one finding."""
    head = problem.split(":", 2)
    return ":".join(head[:2])[:160]


def _shown(case: Any) -> str:
    text = repr(case)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"... ({len(text)} characters)"
