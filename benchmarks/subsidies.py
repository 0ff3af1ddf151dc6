"""Benchmark: a villager's subsidy lookup among 10 million payment records, and the import rate.

Lookup: `core.subsidies.query` (the function every channel calls, with its throttle reads) on a
database of `RECORDS[size]` payments, timed over a mix of people who have payments and people who
have none; baseline: the bare indexed SELECT by the same keyed hash through the sqlite3 module, the
floor any lookup on this storage pays. Import: a CSV and an XLSX payment list through the command's
own code path (`bots.cli_subsidies._import`, progress bar included) into an SQLite file; baseline:
`csv.reader` over the same file plus a plain sqlite3 executemany of pre-made rows into the same table.

The 10 M database is built once, in bulk (`stored_rows`: the values an import stores, made with the
import's own hashing, masking and encryption functions; a test proves them equal to `import_file`'s),
and kept under `.bench/` keyed on `CACHE_VERSION`: change the generator or the stored rows, bump it.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.report import Row, Section
from core.idcard import make_id_number

CACHE_VERSION = "subsidies-v1"
BENCH_DIR = Path(__file__).resolve().parent.parent / ".bench"
SECRET = "benchmark-secret-not-for-production-000"
PROGRAMME = "耕地地力保护补贴"
HEADER = ["序号", "身份证号码", "姓名", "补贴项目", "年度", "补贴标准", "发放金额", "发放日期", "发放方式",
          "发放状态", "银行账号", "乡镇", "主管部门", "手机号"]  # fmt: skip
RECORDS = {"smoke": 2_000, "full": 10_000_000}
IMPORT_ROWS = {"smoke": 2_000, "full": 200_000}
XLSX_ROWS = {"smoke": 300, "full": 50_000}
LOOKUPS = {"smoke": 100, "full": 2_000}
LOAD_CHUNK = 20_000  # rows per job when building the big database
MOST_PAYMENTS = 12  # per person: about 6.5 on average, so 10 M records are about 1.5 M people
LOOKUP_TARGET_MS = 5.0
IMPORT_TARGET = 50_000.0

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
_GIVEN = "秀英建国华明丽军平伟芳娟敏静强磊洋艳勇杰娜涛超霞刚桂兰玉梅志红春林海燕文辉金凤德福"
_AREAS = ("510922", "510921", "510923", "510904", "510903", "411421", "411422", "411423")
_PROGRAMMES = (
    ("耕地地力保护补贴", "每亩105元", "县农业农村局"),
    ("城乡居民基础养老金", "每月188元", "县人社局"),
    ("农机购置补贴", "按机型定额", "县农业农村局"),
    ("生态公益林补偿", "每亩15元", "县林业局"),
    ("农村低保", "每月420元", "县民政局"),
)
_TOWNS = ("城关镇", "河西镇", "太和镇", "新桥乡", "石桥镇", "龙凤乡")
_METHODS = ("一卡通", "社保卡", "银行代发")


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str


def person(index: int) -> Person:
    """The index-th villager: a valid, unique ID number and a name, the same on every run."""
    seq = index % 1000
    day = (index // 1000) % 27_000
    area = _AREAS[(index // 27_000_000) % len(_AREAS)]
    mixed = (index * 2_654_435_761) % 4_294_967_296  # Knuth's multiplicative hash: names look random
    given = _GIVEN[mixed % len(_GIVEN)] + (_GIVEN[(mixed >> 8) % len(_GIVEN)] if mixed % 3 else "")
    name = _SURNAMES[(mixed >> 16) % len(_SURNAMES)] + given
    return Person(make_id_number(area, date(1935, 1, 1) + timedelta(days=day), seq), name)


def payment_rows(first_person: int, rows: int, seed: int) -> Iterator[list[str]]:
    """Rows as a finance bureau exports them: 1–12 payments per person, most with an account.

    Each person gets at least one row, so persons first_person … first_person + rows // MOST_PAYMENTS
    are all in: several programmes over several years, as a county's records are.
    """
    rng = random.Random(seed)
    index = first_person
    made = 0
    while made < rows:
        who = person(index)
        index += 1
        account = f"6217{rng.randrange(10**15):015d}" if rng.random() < 0.85 else ""
        phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}" if rng.random() < 0.3 else ""
        town = rng.choice(_TOWNS)
        for _ in range(min(rng.randint(1, MOST_PAYMENTS), rows - made)):
            programme, standard, department = rng.choice(_PROGRAMMES)
            year = rng.randint(2019, 2025)
            paid = rng.random() < 0.95
            made += 1
            yield [
                str(made), who.id_number, who.name, programme, str(year), standard,
                f"{rng.randint(50, 5000)}.{rng.choice(('00', '50', '25'))}",
                f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" if paid else "",
                rng.choice(_METHODS), "已发放" if paid else "待发放", account, town, department, phone,
            ]  # fmt: skip


def write_csv(path: Path, rows: Iterator[list[str]]) -> int:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_xlsx(path: Path, rows: Iterator[list[str]]) -> int:
    """Typed cells where Excel would have them: numbers for year and amount, a date for the payment day."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    count = 0
    for row in rows:
        typed: list[Any] = list(row)
        typed[0], typed[4], typed[6] = int(row[0]), int(row[4]), float(row[6])
        typed[7] = datetime.strptime(row[7], "%Y-%m-%d") if row[7] else None
        sheet.append(typed)
        count += 1
    book.save(path)
    return count


# ---------------------------------------------------------------- the database of RECORDS payments


_STORED = ("id_hash", "id_enc", "name", "programme", "year", "standard", "amount_cents", "paid_on", "method",
           "status", "account_masked", "account_enc", "town", "department", "phone_enc", "row_hash",
           "imported_at")  # fmt: skip
_INSERT = f"INSERT INTO subsidy_records ({', '.join(_STORED)}) VALUES ({', '.join('?' * len(_STORED))})"


def stored_rows(first_person: int, rows: int, seed: int, imported_at: str) -> list[tuple[Any, ...]]:
    """What an import of `payment_rows(first_person, rows, seed)` stores, as sqlite3 parameters.

    Generated rows are already in the form the import's checks normalise to, so only the stored values
    are made here: the same keyed hashes (`payment_row_hash`, `lookup_hash`), the same masking, Fernet
    ciphertexts, one per person's ID, account and phone as the import caches them. Dates are ISO text
    and `imported_at` naive UTC with microseconds, as SQLAlchemy writes them to SQLite. A test imports
    the same rows with `import_file` and compares every column.
    """
    from core.crypto import Keyring
    from core.idcard import mask_account
    from core.subsidies import payment_row_hash

    keyring = _KEYRING.get("keyring")
    if keyring is None:
        keyring = _KEYRING["keyring"] = Keyring(SECRET, password_cost="fast")
    ciphertexts: dict[str, str] = {}
    people: dict[str, str] = {}

    def encrypt(value: str) -> str:
        token = ciphertexts.get(value)
        if token is None:
            token = ciphertexts[value] = keyring.encrypt(value)
        return token

    made = []
    for line in payment_rows(first_person, rows, seed):
        _, id_number, name, programme, year, standard, amount, paid_on, method, status, account, town, \
            department, phone = line  # fmt: skip
        id_hash = people.get(id_number)
        if id_hash is None:
            id_hash = people[id_number] = keyring.lookup_hash("id_number", id_number)
        cents = int(Decimal(amount) * 100)
        row_hash = payment_row_hash(
            keyring, id_number=id_number, name=name, programme=programme, year=int(year), standard=standard,
            amount_cents=cents, paid_on=date.fromisoformat(paid_on) if paid_on else None, method=method,
            status=status, account=account or None,
        )  # fmt: skip
        made.append((
            id_hash, encrypt(id_number), name, programme, int(year), standard, cents, paid_on or None, method,
            status, mask_account(account) if account else None, encrypt(account) if account else None, town,
            department, encrypt(phone) if phone else None, row_hash, imported_at,
        ))  # fmt: skip
    return made


_KEYRING: dict[str, Any] = {}  # one Keyring per process (its keys are derived once)


def _stored_chunk(job: tuple[int, int, str]) -> list[tuple[Any, ...]]:
    first, rows, imported_at = job
    return stored_rows(first, rows, first, imported_at)


async def _upgrade(path: Path) -> None:
    from storage.database import Database

    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.upgrade()
    finally:
        await database.dispose()


def empty_database(path: Path) -> None:
    """A new SQLite file with the migrations' schema, copied from one migrated once per directory
    (Alembic takes seconds per run, and a benchmark makes several databases)."""
    template = path.parent / f".empty-{CACHE_VERSION}.db"
    if not template.exists():
        asyncio.run(_upgrade(template))
    shutil.copyfile(template, path)


def load(path: Path, records: int, *, workers: int) -> int:
    """Fill a new SQLite file with `records` payments as imports store them; returns the rows stored.

    Chunks of `LOAD_CHUNK` rows (people never shared between chunks) are made by `workers` processes
    and written here with one executemany each; the id_hash index is built once at the end instead of
    grown row by row. The schema is the migrations'.
    """
    empty_database(path)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    jobs = [(first, min(LOAD_CHUNK, records - first), now) for first in range(0, records, LOAD_CHUNK)]
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")  # a half-built file is thrown away, never used
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-2000000")  # 2 GB: the row-hash index stays in memory
        (index_sql,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_subsidy_records_id_hash'"
        ).fetchone()
        connection.execute("DROP INDEX ix_subsidy_records_id_hash")
        began = time.perf_counter()
        done = 0

        def write(chunk: list[tuple[Any, ...]]) -> None:
            nonlocal done
            connection.execute("BEGIN")
            connection.executemany(_INSERT, chunk)
            connection.execute("COMMIT")
            done += len(chunk)
            if done % 500_000 < LOAD_CHUNK and records > LOAD_CHUNK:
                rate = done / (time.perf_counter() - began)
                print(f"   {done:,} of {records:,} records, {rate:,.0f}/s", file=sys.stderr, flush=True)

        if not workers:
            for job in jobs:
                write(_stored_chunk(job))
        else:
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                pending: deque[Any] = deque()  # a few chunks ahead, never all 10 M rows in memory
                for job in jobs:
                    pending.append(pool.apply_async(_stored_chunk, (job,)))
                    if len(pending) > 2 * workers:
                        write(pending.popleft().get())
                while pending:
                    write(pending.popleft().get())
        connection.execute(index_sql)
        connection.execute("PRAGMA journal_mode=WAL")
        return int(connection.execute("SELECT count(*) FROM subsidy_records").fetchone()[0])
    finally:
        connection.close()


def database(size: str, directory: Path) -> tuple[Path, float | None]:
    """The database for `size`: built once for "full" (cached in .bench/), every time for "smoke"."""
    records = RECORDS[size]
    path = directory / f"{CACHE_VERSION}-{records}.db"
    if path.exists():
        asyncio.run(_upgrade(path))  # a migration added since the build applies to the cached file too
        return path, None
    directory.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    print(f"   building {records:,} subsidy records into {path} (once)", file=sys.stderr, flush=True)
    began = time.perf_counter()
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    stored = load(building, records, workers=workers if records > LOAD_CHUNK else 0)
    if stored != records:
        raise RuntimeError(f"built {stored} records, expected {records}: the generator repeated rows")
    building.rename(path)
    return path, time.perf_counter() - began


# ---------------------------------------------------------------- lookups


def _queries(records: int, count: int) -> list[tuple[Person, bool]]:
    """`count` people, three in four with payments (from any chunk of the build), the rest unknown IDs."""
    chunks = -(-records // LOAD_CHUNK)
    rng = random.Random(7)
    chosen: list[tuple[Person, bool]] = []
    for _ in range(count):
        if rng.random() < 0.75:
            first = rng.randrange(chunks) * LOAD_CHUNK
            rows = min(LOAD_CHUNK, records - first)
            chosen.append((person(first + rng.randrange(max(1, rows // MOST_PAYMENTS))), True))
        else:
            chosen.append((person(chunks * LOAD_CHUNK + rng.randrange(1_000_000)), False))
    return chosen


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _time_lookups(path: Path, queries: list[tuple[Person, bool]], warm: int) -> list[float]:
    """Seconds per `subsidies.query`, each in its own session that is rolled back (the throttle rows a
    miss writes would otherwise pile up in the cached file and lock the same people next run)."""
    from core import subsidies
    from core.backend import Backend
    from core.clock import SystemClock
    from core.crypto import Keyring
    from core.policy import Policy
    from core.subsidies import SubsidyOutcome
    from core.workdays import WorkCalendar
    from storage.database import Database

    database = Database(f"sqlite+aiosqlite:///{path}")
    keyring = Keyring(SECRET, password_cost="fast")
    policy = Policy()
    calendar = WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)
    clock = SystemClock()
    seconds: list[float] = []
    try:
        for number, (who, known) in enumerate(queries):
            async with database.reading() as session:
                backend = Backend(session, keyring, clock, policy, calendar)
                began = time.perf_counter()
                result = await subsidies.query(backend, who.id_number, who.name, sender_key=f"bench{number}")
                took = time.perf_counter() - began
            expected = SubsidyOutcome.FOUND if known else SubsidyOutcome.NOT_FOUND
            if result.outcome is not expected:
                raise RuntimeError(f"lookup {number}: {result.outcome}, expected {expected}")
            if number >= warm:
                seconds.append(took)
    finally:
        await database.dispose()
    return seconds


def _time_bare_selects(path: Path, queries: list[tuple[Person, bool]], warm: int) -> list[float]:
    from core.crypto import Keyring

    keyring = Keyring(SECRET, password_cost="fast")
    hashes = [keyring.lookup_hash("id_number", who.id_number) for who, _ in queries]
    connection = sqlite3.connect(path)
    seconds: list[float] = []
    try:
        for number, key in enumerate(hashes):
            began = time.perf_counter()
            connection.execute("SELECT * FROM subsidy_records WHERE id_hash = ?", (key,)).fetchall()
            took = time.perf_counter() - began
            if number >= warm:
                seconds.append(took)
    finally:
        connection.close()
    return seconds


def _lookup_rows(path: Path, size: str) -> list[Row]:
    count = LOOKUPS[size]
    warm = count // 10
    queries = _queries(RECORDS[size], count + warm)
    measured = asyncio.run(_time_lookups(path, queries, warm))
    bare = _time_bare_selects(path, queries, warm)
    rows = []
    for label, share in (("p50", 0.50), ("p99", 0.99)):
        value, floor = _percentile(measured, share) * 1000, _percentile(bare, share) * 1000
        rows.append(
            Row(
                area="subsidies",
                measure=f"lookup {label} ({RECORDS[size]:,} records)",
                value=f"{value:.2f} ms",
                baseline=f"{floor:.3f} ms",
                ratio=f"×{value / floor:.1f} of bare SELECT",
                target=f"≤ {LOOKUP_TARGET_MS:g} ms" if label == "p99" else "",
                met=value <= LOOKUP_TARGET_MS if label == "p99" else None,
                notes=f"{count} people, 3 in 4 with payments" if label == "p50" else "",
            )
        )
    return rows


# ---------------------------------------------------------------- import rate


async def _import_with_command(path: Path, database: Path) -> Any:
    """`sunshine subsidies import` minus its argument parsing: its function, progress bar and all."""
    from bots.cli_subsidies import _import
    from bots.settings import Settings

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}", data_dir=database.parent, secret_key=SECRET
    )
    return await _import(settings, path, PROGRAMME, None, ())


async def _import_in_one_process(path: Path, database: Path) -> Any:
    from core.backend import Backend
    from core.clock import SystemClock
    from core.crypto import Keyring
    from core.policy import Policy
    from core.subsidy_import import import_file
    from core.workdays import WorkCalendar
    from storage.database import Database

    db = Database(f"sqlite+aiosqlite:///{database}")
    policy = Policy()
    calendar = WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays)
    try:
        async with db.transaction() as session:
            backend = Backend(session, Keyring(SECRET, password_cost="fast"), SystemClock(), policy, calendar)
            return await import_file(backend, path, programme=PROGRAMME, workers=0)
    finally:
        await db.dispose()


def _timed_import(runner: Any, path: Path, directory: Path, name: str, rows: int) -> tuple[float, Path]:
    database = directory / f"{name}.db"
    empty_database(database)
    began = time.perf_counter()
    report = asyncio.run(runner(path, database))
    took = time.perf_counter() - began
    if not report.imported or report.added + report.repeated != rows:
        raise RuntimeError(f"{name}: imported {report.added} of {rows} rows ({report.rejected[:3]})")
    return rows / took, database


def _storage_floor(parse: Any, imported: Path, directory: Path, rows: int) -> float:
    """Rows/s of reading the file (`parse`) plus a plain executemany of the very rows the import stored."""
    stored = sqlite3.connect(imported)
    made = stored.execute(f"SELECT {', '.join(_STORED)} FROM subsidy_records").fetchall()
    stored.close()
    floor = directory / f"floor-{imported.stem}.db"
    empty_database(floor)
    connection = sqlite3.connect(floor, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")  # as the service opens it (storage.database)
    try:
        began = time.perf_counter()
        parsed = parse()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(_INSERT, made)
        connection.execute("COMMIT")
        took = time.perf_counter() - began
    finally:
        connection.close()
    if parsed < rows:
        raise RuntimeError(f"the baseline parsed {parsed} rows of {rows}")
    return rows / took


def _count_csv(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _count_xlsx(path: Path) -> int:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(values_only=True)) - 1
    finally:
        book.close()


def _import_rows(size: str, directory: Path) -> list[Row]:
    import bots.cli_subsidies  # noqa: F401  (imported here, not inside the timing: it loads every channel)
    from core.subsidy_import import POOL_AFTER, worker_count

    rows = IMPORT_ROWS[size]
    workers = worker_count() if rows > POOL_AFTER else 0
    csv_path = directory / "list.csv"
    write_csv(csv_path, payment_rows(50_000_000, rows, seed=11))
    rate, imported = _timed_import(_import_with_command, csv_path, directory, "csv", rows)
    floor = _storage_floor(lambda: _count_csv(csv_path), imported, directory, rows)
    alone, _ = _timed_import(_import_in_one_process, csv_path, directory, "csv-one-process", rows)

    xlsx_rows = XLSX_ROWS[size]
    xlsx_path = directory / "list.xlsx"
    write_xlsx(xlsx_path, payment_rows(60_000_000, xlsx_rows, seed=12))
    xlsx_rate, xlsx_imported = _timed_import(_import_with_command, xlsx_path, directory, "xlsx", xlsx_rows)
    xlsx_floor = _storage_floor(lambda: _count_xlsx(xlsx_path), xlsx_imported, directory, xlsx_rows)

    pool = f"{workers} worker processes" if workers else f"one process (≤ {POOL_AFTER:,} rows or one core)"
    xlsx_pool = pool if xlsx_rows > POOL_AFTER else f"one process (≤ {POOL_AFTER:,} rows)"
    return [
        Row("subsidies", f"import CSV, {rows:,} rows", f"{rate:,.0f} rows/s", f"{floor:,.0f} rows/s",
            f"{rate / floor:.2f} of csv.reader + executemany", f"≥ {IMPORT_TARGET:,.0f} rows/s",
            rate >= IMPORT_TARGET, f"`sunshine subsidies import` path, {pool}"),
        Row("subsidies", f"import CSV, {rows:,} rows, workers=0", f"{alone:,.0f} rows/s",
            f"{floor:,.0f} rows/s", f"{alone / floor:.2f} of csv.reader + executemany", "", None,
            f"everything in one process: the workers give ×{rate / alone:.2f}" if workers else ""),
        Row("subsidies", f"import XLSX, {xlsx_rows:,} rows", f"{xlsx_rate:,.0f} rows/s",
            f"{xlsx_floor:,.0f} rows/s", f"{xlsx_rate / xlsx_floor:.2f} of openpyxl read + executemany",
            f"≥ {IMPORT_TARGET:,.0f} rows/s", xlsx_rate >= IMPORT_TARGET, xlsx_pool),
    ]  # fmt: skip


# ---------------------------------------------------------------- the section


def run(size: str) -> Section:
    if size not in RECORDS:
        raise ValueError(f"size is smoke or full, not {size!r}")
    with tempfile.TemporaryDirectory(prefix="sunshine-subsidies-") as scratch:
        directory = Path(scratch)
        path, built = database(size, BENCH_DIR if size == "full" else directory)
        rows = _lookup_rows(path, size)
        rows += _import_rows(size, directory)
    if built is not None:
        rate = f"{RECORDS[size] / built:,.0f} records/s"
        rows.append(Row("subsidies", f"building the {RECORDS[size]:,} records (once)", f"{built:,.0f} s",
                        notes=f"{rate}: the import's own rows, written in bulk"))  # fmt: skip
    return Section(title="Subsidy lookup and import", rows=rows, method=METHOD)


METHOD = """
Lookup: `core.subsidies.query` (ID number check, keyed hash, both throttle reads, the rows, the name
match; a miss also writes its two throttle failures) on an SQLite file of 10 M payment records of
about 1.5 M people (1–12 payments each), through the service's own `Database` (aiosqlite). 2 000
people, three in four with payments, each in its own session, rolled back after the timing; the
first 10 % warm the cache and are not counted. Baseline: the same people's
`SELECT * FROM subsidy_records WHERE id_hash = ?` with the hash already made, straight through the
sqlite3 module: the floor of this storage.

The 10 M records are built once into `.bench/` (keyed on the version string in
`benchmarks/subsidies.py`): the values an import stores, made with the import's own hashing, masking
and encryption functions by worker processes, written in bulk with the id_hash index built at the end;
a test proves those rows equal to what `import_file` stores.

Import: a generated 200 000-row CSV and a 50 000-row XLSX (typed cells) through the function
`sunshine subsidies import` runs (progress bar included) into a fresh SQLite file, WAL with
synchronous=FULL as the service opens it; the same CSV again with `workers=0` shows what the worker
processes add. Baseline: reading the file (csv.reader, or openpyxl read-only) plus one sqlite3
executemany of the very rows the import stored, into the same schema.

The machine has 2 cores, shared with other work while this ran: compare ratios, not rates.
"""
