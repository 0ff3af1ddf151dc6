"""Importing a finance bureau's payment list: every row checked, then all of it or none of it.

A half-imported list is worse than none: villagers would find some payments and not others and
conclude they were cheated. So the whole file is read and checked first; a single bad row means
nothing is written and the operator gets the list of every bad row and why. A good file is written in
one transaction, in bulk. Rows already imported (the same payment, by its keyed row hash) are
skipped, so importing the same file twice, or a later export that repeats earlier rows, adds nothing.

The columns are found by their headers, in Chinese or English, wherever the header row is (exports
often put a title above it); a mapping file names other headers. The cost per row is the keyed hashes
and the encryption of the ID number, account and phone, plus the string work of checking it: all of
it per row and independent of other rows, so a long list is checked, hashed and encrypted in batches
by worker processes, one per core, while this process reads the file and writes to the database.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import signal
import tomllib
import unicodedata
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlmodel import col

from core import subsidy_cells as cells
from core.backend import Backend
from core.crypto import Keyring
from core.idcard import (
    IdProblem,
    check_id_number,
    mask_account,
    mask_id_number,
    mask_id_numbers_in,
    normalize_id_number,
)
from core.spreadsheet import Sheet, open_sheet
from core.subsidies import compact_account_number, normalize_name, payment_row_hash
from storage.models import SubsidyRecord

FIELDS: tuple[str, ...] = (
    "id_number", "name", "programme", "year", "standard", "amount", "paid_on", "method", "status",
    "account", "town", "department", "phone",
)  # fmt: skip
REQUIRED: tuple[str, ...] = ("id_number", "name", "amount")
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "id_number": (
        "身份证号",
        "身份证号码",
        "公民身份号码",
        "身份证",
        "证件号码",
        "id_number",
        "id number",
        "id",
    ),
    "name": ("姓名", "户主姓名", "领取人", "领取人姓名", "补贴对象", "name"),
    "programme": ("项目", "补贴项目", "项目名称", "补贴名称", "programme", "program"),
    "year": ("年度", "年份", "补贴年度", "year"),
    "standard": ("补贴标准", "标准", "standard"),
    "amount": ("金额", "发放金额", "补贴金额", "实发金额", "amount"),
    "paid_on": ("发放日期", "发放时间", "日期", "paid_on", "paid on", "date"),
    "method": ("发放方式", "方式", "method"),
    "status": ("状态", "发放状态", "status"),
    "account": ("银行账号", "卡号", "账号", "银行卡号", "一卡通账号", "社保卡号", "account"),
    "town": ("乡镇", "乡镇街道", "乡镇(街道)", "town"),
    "department": ("部门", "主管部门", "department"),
    "phone": ("电话", "手机号", "手机号码", "联系电话", "手机", "phone"),
}
_MAX_LENGTH = {
    "name": 64, "programme": 128, "standard": 128, "method": 64, "status": 32, "town": 128, "department": 128,
}  # fmt: skip
_TEXTS = ("programme", "standard", "method", "status", "town", "department")  # free text, length-checked
_MEMO_SIZE = 10_000  # distinct texts remembered per column: dates over years, amounts, towns
HEADER_SEARCH_ROWS = 20  # a title, a date line, a blank row or two: the header is never further down
CHUNK = 5000  # rows per INSERT: big enough to be fast, small enough for any driver's parameter limit
BATCH = 2000  # rows per job of a worker process: a few milliseconds of work against one round trip
POOL_AFTER = 20_000  # rows checked here before worker processes are worth their start-up
_CIPHER_CACHE = 200_000  # values whose ciphertext is kept for the rows of the same person that follow
_ID_PROBLEMS = {
    IdProblem.LENGTH: "ID number must have 18 characters",
    IdProblem.CHARACTERS: "ID number may only hold digits and a final X",
    IdProblem.BIRTHDATE: "ID number has an impossible birth date",
    IdProblem.CHECKSUM: "ID number fails its check digit (a digit is mistyped)",
}

_Line = tuple[int, list[Any]]  # (row number as the spreadsheet shows it, cell values)
Progress = Callable[[str, int, int | None], None]  # (phase "check" | "write", rows done, rows in all)


class ImportProblem(ValueError):
    """The file as a whole cannot be imported (columns missing, mapping wrong); no row was looked at."""

    def __init__(self, message: str) -> None:
        super().__init__(mask_id_numbers_in(message))


@dataclass(frozen=True)
class ColumnMapping:
    """Which headers hold which field, and values for fields the file lacks (e.g. every row's method)."""

    headers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_HEADERS))
    defaults: Mapping[str, str] = field(default_factory=dict)


def load_mapping(path: Path) -> ColumnMapping:
    """A TOML file: `[columns]` field = "header" or ["header", ...]; `[defaults]` field = "value"."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ImportProblem(f"{path.name}: cannot read the mapping ({exc})") from None
    unknown = sorted(set(data) - {"columns", "defaults"})
    if unknown:
        raise ImportProblem(
            f"{path.name}: unknown section(s) {', '.join(unknown)}; use [columns] and [defaults]"
        )
    headers = dict(DEFAULT_HEADERS)
    for name, value in dict(data.get("columns", {})).items():
        _check_field(path, name)
        names = [value] if isinstance(value, str) else value
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise ImportProblem(f"{path.name}: columns.{name} must be a header name or a list of them")
        headers[name] = tuple(names)  # replaces the defaults: the operator said where it is
    defaults: dict[str, str] = {}
    for name, value in dict(data.get("defaults", {})).items():
        _check_field(path, name)
        if name in ("id_number", "name", "amount"):
            raise ImportProblem(f"{path.name}: {name} differs per row and cannot have a default")
        defaults[name] = str(value)
    return ColumnMapping(headers, defaults)


def _check_field(path: Path, name: str) -> None:
    if name not in FIELDS:
        raise ImportProblem(f"{path.name}: unknown field {name!r}; fields are {', '.join(FIELDS)}")


@dataclass(frozen=True)
class Rejected:
    row: int  # as the spreadsheet numbers it, header included
    id_masked: str | None
    reasons: tuple[str, ...]


@dataclass
class ImportReport:
    file: str
    kind: str
    encoding: str | None
    header_row: int = 0
    rows: int = 0  # data rows read (blank rows not counted)
    rejected: list[Rejected] = field(default_factory=list)
    repeated: int = 0  # rows that repeat an earlier row of the same file
    already: int = 0  # rows imported before (by an earlier import or by hand)
    added: int = 0

    @property
    def imported(self) -> bool:
        return not self.rejected


class _Payment(NamedTuple):
    """A checked row: normalised values, ready to hash and encrypt (a tuple: one is made per row)."""

    id_number: str
    name: str
    programme: str
    year: int
    standard: str
    amount_cents: int
    paid_on: date | None
    method: str
    status: str
    account: str | None
    town: str | None
    department: str | None
    phone: str | None


async def import_file(
    b: Backend,
    path: Path,
    *,
    programme: str,
    mapping: ColumnMapping | None = None,
    departments: tuple[str, ...] = (),
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Check every row; write them all in the caller's transaction only if none was rejected.

    `programme` names the programme of rows without a programme column. With `departments`, a row's
    department must be one of them (it routes complaints about the payment). `workers`: processes
    for a long list (default one per core; 0 does everything in this process).
    """
    programme = programme.strip()
    if not programme:
        raise ImportProblem("a programme name is needed")
    mapping = mapping or ColumnMapping()
    sheet = open_sheet(path)
    report = ImportReport(path.name, sheet.kind, sheet.encoding)
    today = b.clock.now().astimezone(b.zone).date()
    rows = sheet.rows()
    report.header_row, columns = _find_header(sheet, rows, mapping)
    checker = _Checker(columns, mapping.defaults, programme, departments, today)

    prepared: dict[str, _Prepared] = {}  # row hash → the row to store, in file order
    workers = worker_count() if workers is None else workers
    batches = _batches(rows, report)
    async for outcomes in _prepare_all(b.keyring, checker, batches, sheet.total, progress, workers):
        for outcome in outcomes:
            if isinstance(outcome, Rejected):
                report.rejected.append(outcome)
            elif outcome[0] in prepared:
                report.repeated += 1
            else:
                prepared[outcome[0]] = outcome
    if progress is not None:
        progress("check", report.rows, report.rows)
    if report.rejected or not prepared:
        return report

    await _write(b, prepared, report, progress)
    return report


def _batches(rows: Iterator[_Line], report: ImportReport) -> Iterator[list[_Line]]:
    """The data rows in batches for the checkers; blank rows are dropped (and not counted) here."""
    batch: list[_Line] = []
    for number, values in rows:
        if all(cells.text(value) == "" for value in values):
            continue
        report.rows += 1
        batch.append((number, values))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _normal_header(value: Any) -> str:
    """ "* 身份证号码（必填）" → "身份证号码": marks, spaces, units and notes in brackets are decoration."""
    header = unicodedata.normalize("NFKC", cells.text(value)).lower()
    for opening, closing in (("(", ")"), ("[", "]"), ("【", "】")):
        while opening in header and closing in header.split(opening, 1)[1]:
            before, rest = header.split(opening, 1)
            header = before + rest.split(closing, 1)[1]
    return "".join(ch for ch in header if ch not in " *:：\t\n")


def _find_header(
    sheet: Sheet, rows: Iterator[_Line], mapping: ColumnMapping
) -> tuple[int, dict[str, int]]:
    """The first row naming the required columns, and the column index of every field it names."""
    wanted = {
        field_name: {_normal_header(name) for name in names} for field_name, names in mapping.headers.items()
    }
    seen: list[str] = []
    for number, values in rows:
        headers = [_normal_header(value) for value in values]
        columns: dict[str, int] = {}
        for index, header in enumerate(headers):
            for field_name, names in wanted.items():
                if header in names and field_name not in columns:
                    columns[field_name] = index
        if all(name in columns for name in REQUIRED):
            return number, columns
        if any(headers):
            seen.append(" | ".join(h for h in headers if h))
        if number >= HEADER_SEARCH_ROWS:
            break
    missing = ", ".join(f"{name} ({' / '.join(mapping.headers[name][:3])})" for name in REQUIRED)
    first = seen[0] if seen else "nothing"
    raise ImportProblem(
        f"{sheet.path.name}: no header row with the columns {missing} in the first {HEADER_SEARCH_ROWS} rows "
        f"(first row found: {first}); name the columns with --mapping"
    )


class _Checker:
    """Validates one row at a time; collects every reason a row is wrong, not just the first."""

    def __init__(
        self,
        columns: Mapping[str, int],
        defaults: Mapping[str, str],
        programme: str,
        departments: tuple[str, ...],
        today: date,
    ):
        self.columns = dict(columns)
        self.defaults = dict(defaults)  # plain dicts: the checker is sent to worker processes
        self.programme = programme
        self.departments = frozenset(departments)
        self.today = today
        # Cell text → its reading, for the columns whose values repeat down a list (dates, amounts,
        # programme, town...): most rows then cost a dictionary lookup per cell instead of a parse.
        self._memo: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": {}}  # pickled (spawn) workers build their own

    def check(self, number: int, values: list[Any]) -> tuple[_Payment | None, Rejected | None]:
        raw: dict[str, Any] = {}
        width = len(values)
        for name, index in self.columns.items():
            value = values[index] if index < width else None
            if value is not None and (value.strip() if isinstance(value, str) else True):
                raw[name] = value
        for name, value in self.defaults.items():
            raw.setdefault(name, value)
        reasons: list[str] = []
        read = self._read

        id_number = read(self._id_number, "id_number", raw, reasons, memo=False)
        raw_name = raw.get("name")
        name = normalize_name(raw_name if isinstance(raw_name, str) else cells.text(raw_name))
        if not name:
            reasons.append("name is empty")
        amount: Decimal | None = read(cells.amount, "amount", raw, reasons)
        paid_on: date | None = read(self._day, "paid_on", raw, reasons)
        year: int | None = read(self._year, "year", raw, reasons)
        if year is None and paid_on is not None:
            year = paid_on.year
        if year is None and "year" not in raw:
            reasons.append("no year, and no payment date to take it from")
        account = read(self._account, "account", raw, reasons, memo=False)
        phone = read(cells.phone, "phone", raw, reasons, memo=False)
        texts = {key: read(cells.text, key, raw, reasons) for key in _TEXTS}
        texts["name"] = name
        texts["programme"] = texts["programme"] or self.programme
        texts["status"] = texts["status"] or ("已发放" if paid_on else "待发放")
        for key, value in texts.items():
            if len(value) > _MAX_LENGTH[key]:
                reasons.append(f"{key} is longer than {_MAX_LENGTH[key]} characters")
        department = texts["department"]
        if self.departments and department and department not in self.departments:
            reasons.append(f"department {department!r} is not one of this bot's departments")

        if reasons or id_number is None or amount is None or year is None:
            shown = id_number or normalize_id_number(cells.text(raw.get("id_number")))
            masked = mask_id_number(shown) if shown else None  # never the whole number, even a wrong one
            # Reasons quote cells: an ID number in the wrong column (phone, amount...) is masked there too.
            return None, Rejected(number, masked, tuple(mask_id_numbers_in(reason) for reason in reasons))
        payment = _Payment(
            id_number=id_number,
            name=name,
            programme=texts["programme"],
            year=year,
            standard=texts["standard"],
            amount_cents=int(amount * 100),
            paid_on=paid_on,
            method=texts["method"],
            status=texts["status"],
            account=account,
            town=texts["town"] or None,
            department=department or None,
            phone=phone,
        )
        return payment, None

    def _read(
        self,
        reader: Callable[[Any], Any],
        name: str,
        raw: Mapping[str, Any],
        reasons: list[str],
        *,
        memo: bool = True,
    ) -> Any:
        """The cell read by `reader`, or None with the reason added; text cells remembered when `memo`.

        Only text is remembered (a CSV's every cell, an XLSX's typed ones are read each time): 1, 1.0
        and True are one dictionary key, yet an amount of True is refused and of 1 is not.
        """
        value = raw.get(name)
        known = self._memo.setdefault(name, {}) if memo and type(value) is str else None
        if known is not None and value in known:
            return known[value]
        try:
            result = reader(value)
        except cells.BadCell as exc:
            reasons.append(str(exc))
            return None
        if known is not None and len(known) < _MEMO_SIZE:
            known[value] = result
        return result

    def _day(self, value: Any) -> date | None:
        return cells.day(value, today=self.today)

    def _year(self, value: Any) -> int | None:
        return cells.year(value, today=self.today)

    @staticmethod
    def _account(value: Any) -> str | None:
        account = compact_account_number(cells.long_number(value, "account")) if value is not None else ""
        if account and not account.isdigit():
            raise cells.BadCell("account may only hold digits")
        return account or None

    def _id_number(self, value: Any) -> str:
        if isinstance(value, str) and value.isascii():
            number = "".join(value.split()).upper()  # what the general path below makes of ASCII text
        else:
            number = normalize_id_number(cells.long_number(value, "ID number"))
        if not number:
            raise cells.BadCell("ID number is empty")
        problem = check_id_number(number, today=self.today)
        if problem is not None:
            raise cells.BadCell(_ID_PROBLEMS[problem])
        return number


# A good row as stored: (row_hash, id_hash, id_enc, name, programme, year, standard, amount_cents, paid_on,
# method, status, account_masked, account_enc, town, department, phone_enc). A tuple, not an object:
# it crosses from the worker processes by pickle, millions of times on a big list.
_Prepared = tuple[Any, ...]
_COLUMNS = ("id_hash", "id_enc", "name", "programme", "year", "standard", "amount_cents", "paid_on", "method",
            "status", "account_masked", "account_enc", "town", "department", "phone_enc")  # fmt: skip


class _Sealer:
    """Hashes and encrypts checked rows; a value seen a moment ago gets the ciphertext it got then.

    Households and multi-programme lists repeat the same person, account and phone on row after row,
    and Fernet is most of the cost of a row. A shared ciphertext shows only that rows share the value:
    for the ID number the lookup hash shows that anyway, for an account the masked digits nearly do.
    """

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._people: dict[str, tuple[str, str]] = {}
        self._ciphertexts: dict[str, str] = {}

    def seal(self, payment: _Payment) -> _Prepared:
        keyring = self.keyring
        person = self._people.get(payment.id_number)
        if person is None:
            if len(self._people) >= _CIPHER_CACHE:
                self._people.clear()
            person = self._people[payment.id_number] = (
                keyring.lookup_hash("id_number", payment.id_number),
                keyring.encrypt(payment.id_number),
            )
        account = payment.account
        return (
            payment_row_hash(
                keyring,
                id_number=payment.id_number,
                name=payment.name,
                programme=payment.programme,
                year=payment.year,
                standard=payment.standard,
                amount_cents=payment.amount_cents,
                paid_on=payment.paid_on,
                method=payment.method,
                status=payment.status,
                account=account,
            ),
            person[0],
            person[1],
            payment.name,
            payment.programme,
            payment.year,
            payment.standard,
            payment.amount_cents,
            payment.paid_on,
            payment.method,
            payment.status,
            mask_account(account) if account else None,
            self._encrypt(account) if account else None,
            payment.town,
            payment.department,
            self._encrypt(payment.phone) if payment.phone else None,
        )

    def _encrypt(self, value: str) -> str:
        token = self._ciphertexts.get(value)
        if token is None:
            if len(self._ciphertexts) >= _CIPHER_CACHE:
                self._ciphertexts.clear()
            token = self._ciphertexts[value] = self.keyring.encrypt(value)
        return token


def _prepare(checker: _Checker, sealer: _Sealer, batch: list[_Line]) -> list[Any]:
    """One batch checked: a Rejected or a prepared row per data row, in file order."""
    outcomes: list[Any] = []
    for number, values in batch:
        payment, rejected = checker.check(number, values)
        if rejected is not None:
            outcomes.append(rejected)
        elif payment is not None:
            outcomes.append(sealer.seal(payment))
    return outcomes


# A worker process's checker and sealer, for the one import that started the pool: set once, so its
# remembered cells and ciphertexts last the whole list and each job carries only its rows.
_worker: tuple[_Checker, _Sealer] | None = None


def _start_worker(keyring: Keyring, checker: _Checker) -> None:
    global _worker
    # Ctrl-C is the importing process's to handle: it stops the pool, and the transaction rolls back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (checker, _Sealer(keyring))


def _prepare_in_worker(batch: list[_Line]) -> list[Any]:
    assert _worker is not None, "started without _start_worker"
    return _prepare(*_worker, batch)


def worker_count() -> int:
    """Processes to check and encrypt with: one per core this process may use, none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if cores > 1 else 0


@asynccontextmanager
async def _pool(keyring: Keyring, checker: _Checker, workers: int) -> AsyncIterator[ProcessPoolExecutor]:
    # fork: the workers need only the keyring and this module, both already here, so they start in
    # milliseconds; they never touch the database connection or the event loop they are copied with.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    executor = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(keyring, checker)
    )
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


async def _prepare_all(
    keyring: Keyring,
    checker: _Checker,
    batches: Iterator[list[_Line]],
    total: int | None,
    progress: Progress | None,
    workers: int,
) -> AsyncIterator[list[Any]]:
    """Every batch's outcomes, in file order: the first rows here, the rest of a long list in workers.

    A few batches per worker are in flight at once, so the workers never wait for this process and a
    list of millions of rows is never all in memory as raw cells.
    """
    done = 0
    sealer = _Sealer(keyring)
    for batch in batches:
        yield _prepare(checker, sealer, batch)
        done += len(batch)
        if progress is not None:
            progress("check", done, total)
        if workers and done >= POOL_AFTER:
            break
    else:
        return
    following = next(batches, None)
    if following is None:
        return  # the list ended just there: no pool for nothing
    async with _pool(keyring, checker, workers) as executor:
        pending: deque[tuple[int, Future[list[Any]]]] = deque()
        for batch in itertools.chain([following], batches):
            pending.append((len(batch), executor.submit(_prepare_in_worker, batch)))
            if len(pending) >= 3 * workers:
                size, future = pending.popleft()
                yield await asyncio.wrap_future(future)
                done += size
                if progress is not None:
                    progress("check", done, total)
        while pending:
            size, future = pending.popleft()
            yield await asyncio.wrap_future(future)
            done += size
            if progress is not None:
                progress("check", done, total)


async def _write(
    b: Backend, prepared: dict[str, _Prepared], report: ImportReport, progress: Progress | None
) -> None:
    now = b.clock.now()
    items = list(prepared.values())
    done = 0
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        hashes = [row[0] for row in chunk]
        statement = select(SubsidyRecord.row_hash).where(col(SubsidyRecord.row_hash).in_(hashes))
        existing = set((await b.session.execute(statement)).scalars())
        rows = [
            {**dict(zip(_COLUMNS, row[1:], strict=True)), "row_hash": row[0], "imported_at": now}
            for row in chunk
            if row[0] not in existing
        ]
        report.already += len(chunk) - len(rows)
        if rows:
            # The table, not the entity: a plain executemany without the ORM's per-row bookkeeping.
            await b.session.execute(insert(SubsidyRecord.__table__), rows)  # type: ignore[arg-type]
            report.added += len(rows)
        done += len(chunk)
        if progress is not None:
            progress("write", done, len(items))
