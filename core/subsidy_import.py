"""Importing a finance bureau's payment list: every row checked, then all of it or none of it.

A half-imported list is worse than none: villagers would find some payments and not others and
conclude they were cheated. So the whole file is read and checked first; a single bad row means
nothing is written and the operator gets the list of every bad row and why. A good file is written in
one transaction, in bulk. Rows already imported (the same payment, by its keyed row hash) are
skipped, so importing the same file twice, or a later export that repeats earlier rows, adds nothing.

The columns are found by their headers, in Chinese or English, wherever the header row is (exports
often put a title above it); a mapping file names other headers. The cost per row is the keyed hashes
and the encryption of the ID number, account and phone; everything else is string work.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import col

from core import subsidy_cells as cells
from core.backend import Backend
from core.idcard import IdProblem, check_id_number, mask_account, mask_id_number, normalize_id_number
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
HEADER_SEARCH_ROWS = 20  # a title, a date line, a blank row or two: the header is never further down
CHUNK = 5000  # rows per INSERT: big enough to be fast, small enough for any driver's parameter limit
_ID_PROBLEMS = {
    IdProblem.LENGTH: "ID number must have 18 characters",
    IdProblem.CHARACTERS: "ID number may only hold digits and a final X",
    IdProblem.BIRTHDATE: "ID number has an impossible birth date",
    IdProblem.CHECKSUM: "ID number fails its check digit (a digit is mistyped)",
}

Progress = Callable[[str, int, int | None], None]  # (phase "check" | "write", rows done, rows in all)


class ImportProblem(ValueError):
    """The file as a whole cannot be imported (columns missing, mapping wrong); no row was looked at."""


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


@dataclass(frozen=True)
class _Payment:
    """A checked row: normalised values, ready to hash and encrypt."""

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
) -> ImportReport:
    """Check every row; write them all in the caller's transaction only if none was rejected.

    `programme` names the programme of rows without a programme column. With `departments`, a row's
    department must be one of them (it routes complaints about the payment).
    """
    programme = programme.strip()
    if not programme:
        raise ImportProblem("a programme name is needed")
    mapping = mapping or ColumnMapping()
    sheet = open_sheet(path)
    report = ImportReport(path.name, sheet.kind, sheet.encoding)
    today = b.clock.now().astimezone(b.zone).date()
    checker = _Checker(mapping.defaults, programme, departments, today)

    payments: dict[str, _Payment] = {}  # row hash → payment, in file order
    rows = sheet.rows()
    report.header_row, columns = _find_header(sheet, rows, mapping)
    for number, values in rows:
        if all(cells.text(value) == "" for value in values):
            continue
        report.rows += 1
        payment, rejected = checker.check(number, values, columns)
        if rejected is not None:
            report.rejected.append(rejected)
        elif payment is not None:
            key = _row_hash(b, payment)
            if key in payments:
                report.repeated += 1
            else:
                payments[key] = payment
        if progress is not None and report.rows % 1000 == 0:
            progress("check", report.rows, sheet.total)
    if progress is not None:
        progress("check", report.rows, report.rows)
    if report.rejected or not payments:
        return report

    await _write(b, payments, report, progress)
    return report


def _normal_header(value: Any) -> str:
    """ "* 身份证号码（必填）" → "身份证号码": marks, spaces, units and notes in brackets are decoration."""
    header = unicodedata.normalize("NFKC", cells.text(value)).lower()
    for opening, closing in (("(", ")"), ("[", "]"), ("【", "】")):
        while opening in header and closing in header.split(opening, 1)[1]:
            before, rest = header.split(opening, 1)
            header = before + rest.split(closing, 1)[1]
    return "".join(ch for ch in header if ch not in " *:：\t\n")


def _find_header(
    sheet: Sheet, rows: Iterator[tuple[int, list[Any]]], mapping: ColumnMapping
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
        self, defaults: Mapping[str, str], programme: str, departments: tuple[str, ...], today: date
    ):
        self.defaults = defaults
        self.programme = programme
        self.departments = frozenset(departments)
        self.today = today

    def check(
        self, number: int, values: list[Any], columns: Mapping[str, int]
    ) -> tuple[_Payment | None, Rejected | None]:
        raw: dict[str, Any] = {}
        for name, index in columns.items():
            value = values[index] if index < len(values) else None
            if value is not None and (not isinstance(value, str) or value.strip()):
                raw[name] = value
        for name, value in self.defaults.items():
            raw.setdefault(name, value)
        reasons: list[str] = []

        def read(reader: Callable[[Any], Any], name: str) -> Any:
            try:
                return reader(raw.get(name))
            except cells.BadCell as exc:
                reasons.append(str(exc))
                return None

        id_number = read(self._id_number, "id_number")
        shown = id_number or normalize_id_number(cells.text(raw.get("id_number")))
        masked = mask_id_number(shown) if shown else None  # never the whole number, even a wrong one
        name = normalize_name(cells.text(raw.get("name")))
        if not name:
            reasons.append("name is empty")
        amount: Decimal | None = read(cells.amount, "amount")
        paid_on: date | None = read(self._day, "paid_on")
        year: int | None = read(self._year, "year")
        if year is None and paid_on is not None:
            year = paid_on.year
        if year is None and "year" not in raw:
            reasons.append("no year, and no payment date to take it from")
        account = read(self._account, "account")
        phone = read(cells.phone, "phone")
        texts = {key: cells.text(raw.get(key)) for key in _MAX_LENGTH}
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
            return None, Rejected(number, masked, tuple(reasons))
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
        number = normalize_id_number(cells.long_number(value, "ID number"))
        if not number:
            raise cells.BadCell("ID number is empty")
        problem = check_id_number(number, today=self.today)
        if problem is not None:
            raise cells.BadCell(_ID_PROBLEMS[problem])
        return number


def _row_hash(b: Backend, payment: _Payment) -> str:
    return payment_row_hash(
        b.keyring,
        id_number=payment.id_number,
        name=payment.name,
        programme=payment.programme,
        year=payment.year,
        standard=payment.standard,
        amount_cents=payment.amount_cents,
        paid_on=payment.paid_on,
        method=payment.method,
        status=payment.status,
        account=payment.account,
    )


async def _write(
    b: Backend, payments: dict[str, _Payment], report: ImportReport, progress: Progress | None
) -> None:
    keyring = b.keyring
    now = b.clock.now()
    people: dict[str, tuple[str, str]] = {}  # ID number → (hash, ciphertext): households have many rows
    items = list(payments.items())
    done = 0
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        hashes = [key for key, _ in chunk]
        statement = select(SubsidyRecord.row_hash).where(col(SubsidyRecord.row_hash).in_(hashes))
        existing = set((await b.session.execute(statement)).scalars())
        rows: list[dict[str, Any]] = []
        for key, payment in chunk:
            if key in existing:
                report.already += 1
                continue
            person = people.get(payment.id_number)
            if person is None:
                person = people[payment.id_number] = (
                    keyring.lookup_hash("id_number", payment.id_number),
                    keyring.encrypt(payment.id_number),
                )
            rows.append(
                {
                    "id_hash": person[0],
                    "id_enc": person[1],
                    "name": payment.name,
                    "programme": payment.programme,
                    "year": payment.year,
                    "standard": payment.standard,
                    "amount_cents": payment.amount_cents,
                    "paid_on": payment.paid_on,
                    "method": payment.method,
                    "status": payment.status,
                    "account_masked": mask_account(payment.account) if payment.account else None,
                    "account_enc": keyring.encrypt(payment.account) if payment.account else None,
                    "town": payment.town,
                    "department": payment.department,
                    "phone_enc": keyring.encrypt(payment.phone) if payment.phone else None,
                    "row_hash": key,
                    "imported_at": now,
                }
            )
        if rows:
            # The table, not the entity: a plain executemany without the ORM's per-row bookkeeping.
            await b.session.execute(insert(SubsidyRecord.__table__), rows)  # type: ignore[arg-type]
            report.added += len(rows)
        done += len(chunk)
        if progress is not None:
            progress("write", done, len(items))
