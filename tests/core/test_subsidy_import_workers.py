"""A long payment list checked by worker processes imports exactly what one process imports.

And the benchmark's bulk loader (`benchmarks.subsidies.load`) stores exactly the rows an import
stores, so the 10 M records it measures lookups on are the records imports would have made.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from benchmarks import subsidies as bench
from core import subsidy_import
from core.backend import Backend
from core.clock import SystemClock
from core.crypto import Keyring
from core.policy import Policy
from core.subsidy_import import ImportReport, import_file
from core.workdays import WorkCalendar
from storage.database import Database
from storage.models import SubsidyRecord

ENCRYPTED = ("id_enc", "account_enc", "phone_enc")


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 7 rows and the pool after the first 14, so a list of tens of rows uses the workers."""
    monkeypatch.setattr(subsidy_import, "BATCH", 7)
    monkeypatch.setattr(subsidy_import, "POOL_AFTER", 14)


async def stored(backend: Backend) -> list[dict[str, Any]]:
    """Every stored row with its secrets decrypted, in insertion order; ids and times left out."""
    rows = (await backend.session.execute(select(SubsidyRecord).order_by(SubsidyRecord.id))).scalars()
    result = []
    for row in rows:
        values = row.model_dump(exclude={"id", "imported_at"})
        for name in ENCRYPTED:
            values[name] = backend.keyring.decrypt(values[name]) if values[name] else None
        result.append(values)
    return result


def summary(report: ImportReport) -> tuple[Any, ...]:
    return report.rows, report.added, report.repeated, report.already, report.rejected


@pytest.mark.usefixtures("small_batches")
async def test_workers_store_the_same_rows_as_one_process(backend: Backend, tmp_path: Path) -> None:
    lines = list(bench.payment_rows(1_000, 60, seed=5))
    path = tmp_path / "list.csv"
    bench.write_csv(path, iter([*lines, lines[3], lines[40]]))  # two rows repeated further down

    pooled = await import_file(backend, path, programme=bench.PROGRAMME, workers=2)
    assert summary(pooled) == (62, 60, 2, 0, [])
    with_workers = await stored(backend)
    assert len(with_workers) == 60
    assert (with_workers[0]["id_enc"], with_workers[0]["name"]) == (lines[0][1], lines[0][2])

    # The same list again, all in this process: every row is already there, so the row hashes agree.
    alone = await import_file(backend, path, programme=bench.PROGRAMME, workers=0)
    assert summary(alone) == (62, 0, 2, 60, [])
    assert await stored(backend) == with_workers
    by_line = {(line[1], line[3], int(line[4]), int(Decimal(line[6]) * 100)) for line in lines}
    assert {(r["id_enc"], r["programme"], r["year"], r["amount_cents"]) for r in with_workers} == by_line


@pytest.mark.usefixtures("small_batches")
async def test_workers_report_every_bad_row_in_order_and_store_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    good = list(bench.payment_rows(1_000, 40, seed=6))
    bad_id = [*good[2][:1], good[2][1][:-1] + ("0" if good[2][1][-1] != "0" else "1"), *good[2][2:]]
    no_amount = [*good[5][:6], "", *good[5][7:]]
    path = tmp_path / "bad.csv"
    # Bad rows inside the first batches (checked here) and in the last (checked by a worker).
    bench.write_csv(path, iter([good[0], bad_id, *good[1:30], no_amount, *good[30:], bad_id]))

    pooled = await import_file(backend, path, programme=bench.PROGRAMME, workers=2)
    alone = await import_file(backend, path, programme=bench.PROGRAMME, workers=0)
    assert summary(pooled) == summary(alone)
    assert [r.row for r in pooled.rejected] == [3, 33, 44]
    assert "check digit" in pooled.rejected[0].reasons[0] and "amount is empty" in pooled.rejected[1].reasons
    assert not pooled.imported and pooled.added == 0 and await stored(backend) == []


def test_the_bulk_loader_stores_what_an_import_stores(tmp_path: Path) -> None:
    keyring = Keyring(bench.SECRET, password_cost="fast")
    csv_path = tmp_path / "list.csv"
    bench.write_csv(csv_path, bench.payment_rows(0, 300, seed=0))  # what load() makes of its first chunk

    imported = tmp_path / "imported.db"

    async def by_import() -> None:
        database = Database(f"sqlite+aiosqlite:///{imported}")
        await database.upgrade()
        policy = Policy()
        calendar = WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)
        try:
            async with database.transaction() as session:
                backend = Backend(session, keyring, SystemClock(), policy, calendar)
                report = await import_file(backend, csv_path, programme=bench.PROGRAMME)
                assert report.added == 300
        finally:
            await database.dispose()

    asyncio.run(by_import())
    loaded = tmp_path / "loaded.db"
    assert bench.load(loaded, 300, workers=0) == 300

    def rows(path: Path) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(path)
        names = [name for name in bench._STORED if name != "imported_at"]
        found = []
        for values in connection.execute(f"SELECT {', '.join(names)} FROM subsidy_records ORDER BY row_hash"):
            row = dict(zip(names, values, strict=True))
            for name in ENCRYPTED:
                row[name] = keyring.decrypt(row[name]) if row[name] else None
            found.append(tuple(row.values()))
        (stamp,) = connection.execute("SELECT max(imported_at) FROM subsidy_records").fetchone()
        connection.close()
        datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")  # the text SQLAlchemy writes and reads back
        return found

    from_import = rows(imported)
    assert len(from_import) == 300 and rows(loaded) == from_import
