"""Spreadsheet imports, fuzzed: payment lists (`core.subsidy_import`) and survey lists
(`bots.survey_import` + `bots.surveys.run_campaign`) as CSV in UTF-8, UTF-8 with BOM or GB18030, and as
XLSX written by openpyxl, with odd cells (typed as Excel types them), cut short, bytes changed, and
XLSX parts swapped for entity bombs and external entities naming the planted file.

The property: a clear refusal (the importer's own error, with a message) and not one row written, or a
complete import whose report adds up to the rows in the table; never another exception.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from openpyxl import Workbook

from bots.demo import DEMO_DEPARTMENTS
from bots.survey_import import SurveyFileError, read_survey_bytes
from bots.surveys import CampaignTarget, run_campaign
from core.idcard import check_id_number, make_id_number
from core.spreadsheet import SpreadsheetError
from core.subsidy_import import ImportProblem, import_file
from core.surveys import Outcome
from tests.drills.fuzz.service import BOT, FuzzService
from tests.drills.fuzz.values import odd_text

PROGRAMME = "耕地地力保护补贴"
PLANTED = "@PLANTED@"  # replaced by the service's planted file at run time
_FULL_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")


@dataclass(frozen=True)
class FileCase:
    name: str
    data: bytes


# ---------------------------------------------------------------- cells

ids = st.builds(
    make_id_number,
    st.sampled_from(["110101", "610102", "510104"]),
    st.dates(date(1930, 1, 1), date(2010, 12, 31)),
    st.integers(0, 999),
)
cell_value = st.one_of(
    odd_text,
    st.text(max_size=20),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)),
    st.dates(date(1900, 1, 1), date(2100, 1, 1)),
    st.sampled_from(["", " ", "=1+1", '=HYPERLINK("http://x")', "1e400", "¥1,200.50元", "１２３４"]),
)


def _payment_cell(column: str) -> st.SearchStrategy[Any]:
    good: dict[str, st.SearchStrategy[Any]] = {
        "身份证号": ids,
        "姓名": st.sampled_from(["张三", "李四", "王五", "欧阳娜娜"]),
        "金额": st.one_of(
            st.decimals(0, 100_000, places=2).map(str), st.integers(0, 10_000), st.floats(0, 10_000)
        ),
        "发放日期": st.one_of(
            st.dates(date(2020, 1, 1), date(2026, 3, 1)), st.just("2025-06-30"), st.just("2025年6月30日")
        ),
        "年度": st.sampled_from([2024, "2025", "2025年度"]),
        "银行账号": st.sampled_from(["6228480402564890018", "6228 4804 0256 4890 018"]),
        "部门": st.sampled_from(list(DEMO_DEPARTMENTS)),
        "手机号": st.sampled_from(["13800138000", "+86 139 0013 9000"]),
    }
    return st.one_of(good.get(column, st.just("")), good.get(column, st.just("")), cell_value)


def _survey_cell(column: str) -> st.SearchStrategy[Any]:
    good: dict[str, st.SearchStrategy[Any]] = {
        "手机号": st.sampled_from(["13800138000", "13900139000", "+8615000150000", "150 0015 0001"]),
        "服务事项": st.sampled_from(["社保卡补办", "户籍迁移"]),
        "部门": st.sampled_from(list(DEMO_DEPARTMENTS)),
        "窗口": st.sampled_from(["3号窗口", ""]),
        "工作人员": st.sampled_from(["王芳", ""]),
        "办理时间": st.one_of(
            st.just("2026-03-01 10:00"), st.datetimes(datetime(2026, 2, 1), datetime(2026, 3, 2))
        ),
    }
    return st.one_of(good.get(column, st.just("")), good.get(column, st.just("")), cell_value)


PAYMENT_HEADERS = ("身份证号", "姓名", "金额", "发放日期", "年度", "银行账号", "部门", "手机号")
SURVEY_HEADERS = ("手机号", "服务事项", "部门", "窗口", "工作人员", "办理时间")


@st.composite
def _table(draw: st.DrawFn, headers: tuple[str, ...], cell: Any) -> list[list[Any]]:
    columns = list(draw(st.permutations(headers)))
    columns = [c for c in columns if draw(st.integers(0, 15)) != 0]  # a column missing now and then
    if draw(st.integers(0, 10)) == 0:
        columns.append(draw(odd_text))
    rows: list[list[Any]] = []
    if draw(st.integers(0, 4)) == 0:
        rows.append(
            [draw(st.sampled_from(["2025年耕地地力保护补贴发放花名册", "", "单位：元"]))]
        )  # a title row
    rows.append(list(columns))
    for _ in range(draw(st.integers(0, 8))):
        row = [draw(cell(column)) for column in columns]
        if draw(st.integers(0, 6)) == 0:
            row = row[: draw(st.integers(0, len(row)))]  # a short row
        rows.append(row)
    return rows


# ---------------------------------------------------------------- files


def _csv_bytes(rows: list[list[Any]], encoding: str, delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return out.getvalue().encode(encoding, "surrogatepass" if encoding == "utf-8" else "replace")


def _xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return _timeless(out.getvalue())


_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*")


def _timeless(xlsx: bytes) -> bytes:
    """The same bytes for the same rows on every run: hypothesis replays a case by its choices, and a
    workbook stamped with the time of saving (in its properties and its zip entries) changed length
    under it ("Inconsistent data generation", 80 000 cases into a survey run)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = _STAMP.sub(rb"\g<1>2026-01-01T00:00:00Z", content)
            target.writestr(zipfile.ZipInfo(item.filename, date_time=(2026, 1, 1, 0, 0, 0)), content,
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _xlsx_cell(value: Any) -> Any:
    """A value as a cell can hold it: openpyxl refuses control characters and lone surrogates in text."""
    if isinstance(value, str):
        value = value.encode("utf-8", "replace").decode("utf-8")
        return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)[:32_000]
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)
    return value


def _swap_part(xlsx: bytes, part: str, content: bytes) -> bytes:
    """The workbook with one of its XML parts replaced, as a hostile or broken exporter would write it."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, content if item.filename == part else source.read(item.filename))
    return out.getvalue()


def _hostile_sheet() -> st.SearchStrategy[bytes]:
    head = '<?xml version="1.0"?>'
    sheet = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    row = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>{}</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>姓名</t></is></c></row>'
    )
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return st.sampled_from(
        [
            f"{head}<!DOCTYPE w [{laughs}]>{sheet}{row.format('&l9;')}</sheetData></worksheet>".encode(),
            f'{head}<!DOCTYPE w [<!ENTITY x SYSTEM "file://{PLANTED}">]>{sheet}{row.format("&x;")}</sheetData></worksheet>'.encode(),
            f"{head}{sheet}{row.format('身份证号')}".encode(),  # cut short
            b"\x00\x01 not xml",
        ]
    )


@st.composite
def _file(draw: st.DrawFn, headers: tuple[str, ...], cell: Any) -> FileCase:
    rows = draw(_table(headers, cell))
    kind = draw(st.sampled_from(["csv", "csv", "xlsx"]))
    if kind == "csv":
        encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
        data = _csv_bytes(rows, encoding, draw(st.sampled_from([",", ",", "\t", ";"])))
        name = "list" + draw(st.sampled_from([".csv", ".csv", ".txt"]))
    else:
        data = _xlsx_bytes(rows)
        name = "list.xlsx"
        if draw(st.integers(0, 5)) == 0:
            part = draw(
                st.sampled_from(
                    ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml", "xl/styles.xml"]
                )
            )
            data = _swap_part(data, part, draw(_hostile_sheet()))
    mangle = draw(st.integers(0, 9))
    if mangle == 0:
        data = data[: draw(st.integers(0, len(data)))]
    elif mangle == 1:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at + 1 :]
    elif mangle == 2:
        data = draw(st.binary(max_size=400))
    elif mangle == 3 and kind == "csv":
        data = data + b"\x00" * draw(st.integers(1, 5)) + b",x\n"
    return FileCase(name, data)


def subsidy_cases() -> st.SearchStrategy[FileCase]:
    return _file(PAYMENT_HEADERS, _payment_cell)


def survey_cases() -> st.SearchStrategy[FileCase]:
    return _file(SURVEY_HEADERS, _survey_cell)


# ---------------------------------------------------------------- one case


def _planted(service: FuzzService, case: FileCase) -> bytes:
    return case.data.replace(PLANTED.encode(), str(service.planted).encode())


def _leaks(service: FuzzService, case: FileCase, message: str) -> list[str]:
    problems = []
    if service.marker in message:
        problems.append("the planted file's content appears in the import's report")
    shown = {m.group() for m in _FULL_ID.finditer(message) if check_id_number(m.group()) is None}
    if shown:
        problems.append("a full ID number appears in the import's message")
    return problems


async def exercise_subsidies(service: FuzzService, case: FileCase) -> tuple[str, list[str]]:
    services = service.deployment.services
    before = await service.count("subsidy_records")
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / case.name
        path.write_bytes(_planted(service, case))
        try:
            async with services.database.transaction() as session:
                report = await import_file(
                    services.backend(session), path, programme=PROGRAMME, departments=DEMO_DEPARTMENTS
                )
        except (ImportProblem, SpreadsheetError) as exc:
            problems = _leaks(service, case, str(exc)) + service.log_problems()
            if not str(exc).strip():
                problems.append("a refusal without a message")
            if await service.count("subsidy_records") != before:
                problems.append("a refused file wrote rows")
            return "refused", problems
        except Exception as exc:  # anything else reaches the operator as a traceback
            problems = [f"raised {type(exc).__name__}: {str(exc)[:200]}"]
            if await service.count("subsidy_records") != before:
                problems.append("a file that raised wrote rows")
            return "raised", problems
    after = await service.count("subsidy_records")
    reasons = "\n".join("; ".join(r.reasons) + f" {r.id_masked or ''}" for r in report.rejected)
    problems = _leaks(service, case, reasons) + service.log_problems()
    if report.rejected:
        if after != before or report.added:
            problems.append("a file with rejected rows wrote rows")
        if not all(r.reasons for r in report.rejected):
            problems.append("a rejected row without a reason")
        return "rejected", problems
    if after - before != report.added:
        problems.append(f"report says {report.added} added, the table grew by {after - before}")
    if report.rows != report.added + report.already + report.repeated:
        problems.append(
            f"{report.rows} rows but {report.added}+{report.already}+{report.repeated} accounted for"
        )
    return "imported", problems


async def exercise_surveys(service: FuzzService, case: FileCase) -> tuple[str, list[str]]:
    services = service.deployment.services
    try:
        rows = read_survey_bytes(_planted(service, case), case.name)
    except SurveyFileError as exc:
        problems = _leaks(service, case, str(exc)) + service.log_problems()
        return "refused", problems + ([] if str(exc).strip() else ["a refusal without a message"])
    except Exception as exc:
        return "raised", [f"raised while reading {type(exc).__name__}: {str(exc)[:200]}"]
    before = (await service.count("surveys"), await service.count("outbox"))
    target = CampaignTarget(
        bot_id=BOT, channel="sms", language="zh_Hans", concise=True, departments=DEMO_DEPARTMENTS
    )
    try:
        summary = await run_campaign(services, rows, target, source=case.name, actor="fuzz")
    except Exception as exc:
        return "raised", [f"raised while sending {type(exc).__name__}: {str(exc)[:200]}"]
    after = (await service.count("surveys"), await service.count("outbox"))
    problems = service.log_problems()
    problems += _leaks(service, case, "\n".join(p.message for p in summary.problems))
    sent = summary.counts[Outcome.QUEUED] + summary.counts[Outcome.DEFERRED]
    if summary.rows != len(rows):
        problems.append(f"{len(rows)} rows read, {summary.rows} in the summary")
    if after[0] - before[0] != sent or after[1] - before[1] != sent:
        problems.append(
            f"{sent} surveys sent, but {after[0] - before[0]} surveys "
            f"and {after[1] - before[1]} outbox rows written"
        )
    return ("surveyed" if sent else "nothing-sent"), problems
