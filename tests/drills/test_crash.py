"""The crash drill cut down for CI: a few SIGKILLs of `sunshine serve` and `sunshine worker` under load.

The full drill (at least 100 kills) is a script: `python -m tests.drills.crash --kills 100`. Here the
same code runs with four kills, two of each process, on SQLite (the default deployment: both
processes on one file) and on PostgreSQL; without a PostgreSQL server that half is skipped, and the
run ends with the loud notice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drills.crash import Options, Report, run
from tests.postgres import ADMIN_URL, NO_POSTGRES, PostgresServer

KILLS = 4
SEED = 3  # the killer's choices with this seed: serve, worker, serve, worker


def _options(database: str) -> Options:
    return Options(kills=KILLS, database=database, seed=SEED, citizens=6, lease=4.0, progress=False)


def _assert_nothing_lost_or_doubled(report: Report) -> None:
    print("\n" + report.summary())
    assert report.problems == []
    assert report.kills == {"serve": 2, "worker": 2}
    assert report.kills_mid_request >= 1, "the web process was never killed in the middle of a request"
    assert report.failed_requests >= 1, "no sender ever had to retry"
    assert report.acknowledged == report.messages > 0
    assert report.missing == 0 and report.inbound_rows == report.messages
    assert report.doubled_inbound == 0
    assert report.cases == report.citizens and report.doubled_cases == 0
    assert report.unsent == 0 and report.sent == report.outbox_rows > report.inline
    assert report.lost == 0
    # At-least-once: a send whose holder died after the platform took it goes again; never otherwise.
    assert report.unexplained_duplicates == 0
    assert report.log_problems == []


async def test_sigkilled_serve_and_worker_on_sqlite_lose_and_double_nothing(tmp_path: Path) -> None:
    report = await run(_options("sqlite"), tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'sunshine.db'}")

    _assert_nothing_lost_or_doubled(report)
    # What makes an acknowledged commit survive: the engine hook gives every connection these.
    assert report.pragmas == {"journal_mode": "wal", "synchronous": "2", "integrity_check": "ok"}


async def test_sigkilled_serve_and_worker_on_postgresql_lose_and_double_nothing(
    postgres_server: PostgresServer | None, tmp_path: Path
) -> None:
    if postgres_server is None:
        pytest.skip(f"{NO_POSTGRES} at {ADMIN_URL}: the crash drill's second half needs it")
    url = await postgres_server.fresh_database()

    _assert_nothing_lost_or_doubled(await run(_options("postgresql"), tmp_path, url))
