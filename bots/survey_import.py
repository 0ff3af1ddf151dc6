"""Reading a survey list: CSV (UTF-8, with or without BOM, or GBK as Excel saves it on Chinese Windows)
or XLSX, with the column names people actually use, in Chinese or English.

Only the reading is here; what makes a row acceptable is `core.survey_rows`. A file that cannot be a
survey list at all (unreadable, no phone column) is refused as a whole with a message saying why;
a bad row is only that row's problem.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 20 * 1024 * 1024
REQUIRED = ("phone", "service", "department")
# Header spellings per field, compared after removing spaces, underscores, dashes and case.
ALIASES: dict[str, tuple[str, ...]] = {
    "phone": (
        "手机号",
        "手机号码",
        "手机",
        "电话",
        "电话号码",
        "联系电话",
        "联系方式",
        "phone",
        "mobile",
        "tel",
    ),
    "service": ("服务事项", "办理事项", "事项", "事项名称", "业务", "业务名称", "service", "item"),
    "window": ("窗口", "窗口号", "办理窗口", "window", "counter"),
    "staff": ("工作人员", "经办人", "办理人", "受理人", "staff", "staffmember", "staffname", "clerk"),
    "department": ("部门", "单位", "办理部门", "承办部门", "department", "dept", "office"),
    "time": ("办理时间", "服务时间", "时间", "日期", "办结时间", "time", "servedat", "date", "datetime"),
}
_FOLD = re.compile(r"[\s_\-:：()（）]+")
_LOOKUP = {_FOLD.sub("", alias.lower()): name for name, aliases in ALIASES.items() for alias in aliases}


class SurveyFileError(ValueError):
    """The file as a whole cannot be read as a survey list; the message says what to fix."""


@dataclass(frozen=True)
class ParsedRow:
    line: int  # as the spreadsheet numbers it: the header is line 1
    values: dict[str, object]


def read_survey_file(path: Path) -> list[ParsedRow]:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SurveyFileError(f"{path.name}: larger than {MAX_BYTES // (1024 * 1024)} MB; split it")
        data = path.read_bytes()
    except OSError as exc:
        raise SurveyFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return read_survey_bytes(data, path.name)


def read_survey_bytes(data: bytes, name: str) -> list[ParsedRow]:
    """Rows of an uploaded or local file; the desk calls this with the upload's bytes and file name."""
    if len(data) > MAX_BYTES:
        raise SurveyFileError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MB; split it")
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        raise SurveyFileError(f"{name}: old Excel files (.xls) are not supported; save as .xlsx or .csv")
    if suffix in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        table = _xlsx_rows(data, name)
    else:
        table = _csv_rows(data, name)
    return _mapped(table, name)


def _xlsx_rows(data: bytes, name: str) -> list[Sequence[object]]:
    from openpyxl import load_workbook  # on first upload: openpyxl costs each web process ~6 MB

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a damaged file fails in zipfile, in an XML parser or in openpyxl's own reading
        raise SurveyFileError(f"{name}: not a readable .xlsx workbook") from None
    try:
        sheet = workbook.active
        if sheet is None:
            raise SurveyFileError(f"{name}: the workbook has no sheet")
        try:
            return [tuple(row) for row in sheet.iter_rows(values_only=True)]
        except Exception:  # read-only mode parses the sheet's XML only now: damage surfaces here
            raise SurveyFileError(f"{name}: the worksheet is damaged") from None
    finally:
        workbook.close()


def _csv_rows(data: bytes, name: str) -> list[Sequence[object]]:
    text = _decode(data, name)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [tuple(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)]
    except csv.Error as exc:
        raise SurveyFileError(f"{name}: not readable as CSV: {exc}") from None


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (a BOM is dropped) first: it almost never decodes text that is really GBK."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SurveyFileError(f"{name}: the text is neither UTF-8 nor GBK; save it as UTF-8 CSV")


def _mapped(table: Iterable[Sequence[object]], name: str) -> list[ParsedRow]:
    rows = iter(enumerate(table, start=1))
    header: dict[int, str] = {}
    for _number, cells in rows:
        if any(_filled(cell) for cell in cells):
            header = _header(cells)
            break
    missing = [field for field in REQUIRED if field not in header.values()]
    if missing:
        expected = "; ".join(f"{field}: {' / '.join(ALIASES[field][:3])}" for field in missing)
        raise SurveyFileError(
            f"{name}: no column for {', '.join(missing)} (expected headers like {expected})"
        )
    parsed: list[ParsedRow] = []
    for number, cells in rows:
        if not any(_filled(cell) for cell in cells):
            continue
        values = {field: cells[index] for index, field in header.items() if index < len(cells)}
        parsed.append(ParsedRow(number, values))
    return parsed


def _header(cells: Sequence[object]) -> dict[int, str]:
    """Column index → field; the first column of a field wins, unknown columns are ignored."""
    found: dict[int, str] = {}
    for index, cell in enumerate(cells):
        field = _LOOKUP.get(_FOLD.sub("", str(cell or "").strip().lower()))
        if field is not None and field not in found.values():
            found[index] = field
    return found


def _filled(cell: object) -> bool:
    return cell is not None and str(cell).strip() != ""
