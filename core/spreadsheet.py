"""Rows out of the files finance bureaus export: CSV in whatever encoding Windows chose, or XLSX.

Chinese Excel saves CSV as GBK (GB18030 in newer versions), web systems as UTF-8 with or without a
byte-order mark; nobody knows which they have. The bytes decide: a BOM means UTF-8, text that decodes
as UTF-8 is UTF-8 (GBK Chinese almost never does), and everything else is read as GB18030, the
superset of GBK. Nothing here knows what the columns mean.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SNIFF_BYTES = 1 << 20


class SpreadsheetError(ValueError):
    """The file cannot be read as a table at all (not a spreadsheet, damaged, empty)."""


@dataclass(frozen=True)
class Sheet:
    """A table: rows as lists of cell values (str for CSV; str, numbers or datetimes for XLSX)."""

    path: Path
    kind: str  # "csv" or "xlsx"
    encoding: str | None  # for CSV: the encoding it was read with
    total: int | None  # rows in the file, when known without reading it twice (XLSX dimensions)

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number as a spreadsheet shows it, from 1; cell values)."""
        if self.kind == "csv":
            yield from _csv_rows(self.path, self.encoding or "utf-8")
        else:
            yield from _xlsx_rows(self.path)


def open_sheet(path: Path) -> Sheet:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return Sheet(path, "xlsx", None, _xlsx_total(path))
    if suffix in (".csv", ".txt"):
        return Sheet(path, "csv", detect_encoding(path), None)
    raise SpreadsheetError(f"{path.name}: expected a .csv or .xlsx file (old .xls: save it as .xlsx first)")


def detect_encoding(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is no evidence against UTF-8.
        if exc.start < len(head) - 3:
            return "gb18030"
    return "utf-8"


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[Any]]]:
    try:
        with path.open("r", encoding=encoding, newline="") as handle:
            sample = handle.read(64 * 1024)
            handle.seek(0)
            dialect: Any = csv.excel
            with contextlib.suppress(csv.Error):  # one column, or too regular to tell: plain commas
                dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
            yield from enumerate(csv.reader(handle, dialect), start=1)
    except UnicodeDecodeError as exc:
        raise SpreadsheetError(f"{path.name}: not readable as {encoding} text ({exc.reason})") from None
    except csv.Error as exc:
        raise SpreadsheetError(f"{path.name}: not a CSV table ({exc})") from None


def _load_workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises anything from zipfile to KeyError on a damaged file
        raise SpreadsheetError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__})") from None


def _xlsx_total(path: Path) -> int | None:
    workbook = _load_workbook(path)
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        return sheet.max_row if sheet is not None else 0
    finally:
        workbook.close()


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    """The first worksheet: exports put the list there, and notes or totals on later sheets."""
    workbook = _load_workbook(path)
    try:
        if not workbook.worksheets:
            return
        sheet = workbook.worksheets[0]
        try:
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, list(row)
        except Exception as exc:  # read-only mode parses the sheet's XML only now: damage surfaces here
            problem = type(exc).__name__
            raise SpreadsheetError(f"{path.name}: the first worksheet is damaged ({problem})") from None
    finally:
        workbook.close()
