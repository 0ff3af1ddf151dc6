"""`python -m tests.drills.fuzz --cases 100000 [--channel NAME ...]`: the fuzzing drill at full size.

The same strategies and checks as the tests in this package, driven by hypothesis in generate-only mode
(a finding is recorded and the run goes on, rather than stopping to shrink the first one), against one
service per channel on a fresh SQLite database in memory-backed storage (or `--database URL`, e.g. a
PostgreSQL database to be emptied first). Prints progress as it goes and a summary per channel: cases
run, cases per second, statuses seen, and every distinct finding with the first case that showed it.
Exit status 1 if anything was found.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests import network_guard
from tests.drills.fuzz import imports, sms, telegram, webchat, wechat
from tests.drills.fuzz.service import FuzzService
from tests.drills.fuzz.tally import Tally


@dataclass(frozen=True)
class Target:
    strategy: Callable[[], st.SearchStrategy[Any]]
    exercise: Callable[[FuzzService, Any], Awaitable[tuple[str, list[str]]]]


TARGETS: dict[str, Target] = {
    "sms": Target(sms.cases, sms.exercise),
    "wechat-plain": Target(wechat.plain_cases, wechat.exercise),
    "wechat-encrypted": Target(wechat.encrypted_cases, wechat.exercise),
    "telegram": Target(telegram.cases, telegram.exercise),
    "webchat": Target(webchat.cases, webchat.exercise),
    "import-subsidies": Target(imports.subsidy_cases, imports.exercise_subsidies),
    "import-surveys": Target(imports.survey_cases, imports.exercise_surveys),
}


def drill(
    name: str, target: Target, cases: int, *, database: str | None, check_every: int, report_every: int
) -> Tally:
    tally = Tally(name)
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-", dir=_fast_dir()) as work:
        url = database or f"sqlite+aiosqlite:///{Path(work) / 'fuzz.db'}"
        service = loop.run_until_complete(FuzzService.start(url, Path(work)))
        try:

            @settings(
                max_examples=cases,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=target.strategy())
            def one(case: Any) -> None:
                try:
                    status, problems = loop.run_until_complete(target.exercise(service, case))
                except Exception as exc:  # the exercise itself broke: that is a finding too, keep going
                    status, problems = "raised", [f"raised {type(exc).__name__}: {exc}"[:500]]
                tally.add(status, problems, case)
                if tally.cases % check_every == 0:
                    tally.database_checks += 1
                    tally.note(loop.run_until_complete(service.check_database()), case)
                if tally.cases % report_every == 0:
                    print(tally.progress(), flush=True)

            try:
                one()
            except Exception as exc:  # hypothesis itself gave up (a drill bug): report what was seen
                tally.note([f"the run stopped early: {type(exc).__name__}: {str(exc)[:300]}"], "(hypothesis)")
            tally.database_checks += 1
            tally.note(loop.run_until_complete(service.check_database()), "(end of run)")
        finally:
            loop.run_until_complete(service.close())
            loop.close()
    return tally


def _fast_dir() -> str | None:
    """tmpfs when there is one: SQLite syncs every commit, and the drill is about parsers, not disks."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.drills.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases per channel (default 100000)")
    parser.add_argument("--channel", action="append", choices=sorted(TARGETS), help="repeatable; default all")
    parser.add_argument(
        "--database", help="database URL instead of a fresh SQLite file (shared by the channels run)"
    )
    parser.add_argument("--check-every", type=int, default=100, help="cases between database checks")
    parser.add_argument("--report-every", type=int, default=5000, help="cases between progress lines")
    args = parser.parse_args(argv)
    network_guard.install()
    logging.basicConfig(level=logging.CRITICAL)  # the service's own log lines; errors are captured apart
    tallies = []
    for name in args.channel or list(TARGETS):
        print(f"-- {name}: {args.cases} cases", flush=True)
        tally = drill(
            name,
            TARGETS[name],
            args.cases,
            database=args.database,
            check_every=args.check_every,
            report_every=args.report_every,
        )
        print(tally.summary(), flush=True)
        tallies.append(tally)
    print("\n".join(["", "SUMMARY"] + [t.summary() for t in tallies]))
    return 1 if any(t.findings for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
