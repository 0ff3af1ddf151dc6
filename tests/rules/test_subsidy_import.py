"""Importing payment lists: CSV in UTF-8 and GBK, XLSX; good, bad and mixed files; all or nothing."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core import subsidies
from core import subsidy_cells as cells
from core.backend import Backend
from core.idcard import make_id_number
from core.subsidy_import import ImportProblem, import_file, load_mapping
from storage.models import SubsidyRecord

ZHANG = "510922195608141232"
LI = make_id_number("510922", date(1962, 3, 9), 27)
WANG = make_id_number("510922", date(1971, 11, 30), 118)
HEADER = ["序号", "身份证号码", "姓名", "补贴项目", "年度", "补贴标准", "发放金额（元）", "发放日期",
          "发放方式", "发放状态", "银行账号", "乡镇", "主管部门", "手机号"]  # fmt: skip
GOOD = [
    ["1", ZHANG, "张秀英", "", "2025", "每亩105元", "892.50", "2025-06-20", "一卡通", "已发放",
     "6217 0038 1001 2345 678", "城关镇", "县农业农村局", "13912345678"],
    ["2", ZHANG, "张 秀英", "城乡居民基础养老金", "2025", "每月188元", "2,256", "2025/12/25", "社保卡", "",
     "6230521234567890", "城关镇", "县人社局", ""],
    ["3", LI, "李建国", "", "", "每亩105元", "1050", "2025年6月20日", "一卡通", "已发放", "", "河西镇",
     "县农业农村局", ""],
]  # fmt: skip
PROGRAMME = "耕地地力保护补贴"


def write_csv(path: Path, rows: list[list[str]], encoding: str, title: str | None = None) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if title:
        writer.writerow([title])
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


async def count(backend: Backend) -> int:
    return (await backend.session.execute(select(func.count()).select_from(SubsidyRecord))).scalar_one()


async def run(backend: Backend, path: Path, **kwargs: Any) -> Any:
    return await import_file(backend, path, programme=kwargs.pop("programme", PROGRAMME), **kwargs)


# ---------------------------------------------------------------- good files


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
async def test_a_good_csv_in_any_encoding(backend: Backend, tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "list.csv", [HEADER, *GOOD], encoding, title="2025年惠民惠农补贴发放花名册")
    report = await run(backend, path)
    assert report.imported and (report.header_row, report.rows, report.added) == (2, 3, 3)
    assert report.encoding == ("gb18030" if encoding == "gbk" else encoding)

    found = await subsidies.query(backend, ZHANG, "张秀英", sender_key="s")
    assert [(p.programme, p.amount, p.paid_on, p.status) for p in found.payments] == [
        ("城乡居民基础养老金", Decimal("2256.00"), date(2025, 12, 25), "已发放"),
        (PROGRAMME, Decimal("892.50"), date(2025, 6, 20), "已发放"),
    ]
    assert found.payments[1].account_masked == "6217***********5678"
    li = await subsidies.query(backend, LI, "李建国", sender_key="s")
    assert [(p.year, p.paid_on) for p in li.payments] == [(2025, date(2025, 6, 20))]  # year from the date

    rows = list((await backend.session.execute(select(SubsidyRecord))).scalars())
    stored = " ".join(str(row.model_dump()) for row in rows)
    for secret in (ZHANG, LI, "13912345678", "62170038100123456"):
        assert secret not in stored
    phone_row = next(row for row in rows if row.phone_enc)
    assert backend.keyring.decrypt(phone_row.phone_enc or "") == "13912345678"


async def test_a_good_xlsx_with_typed_cells(backend: Backend, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "list.xlsx",
        [
            ["2025年耕地地力保护补贴发放表"],
            [],
            ["身份证号", "姓名", "年度", "金额", "发放日期", "发放方式", "状态", "卡号", "电话"],
            [ZHANG, "张秀英", 2025, 892.5, datetime(2025, 6, 20), "一卡通", "已发放", "6217003810012345678",
             13912345678],
            [LI, "李建国", "2025年", 1050, 45828, "一卡通", "已发放", None, None],
            [None, None, None, None, None, None, None, None, None],
            [WANG.lower(), "王五", 2024, "300.00", None, "现金", "待发放", None, "0817-2345678"],
        ],
    )  # fmt: skip
    report = await run(backend, path)
    assert report.imported and (report.kind, report.header_row, report.rows, report.added) == (
        "xlsx",
        3,
        3,
        3,
    )
    li = await subsidies.query(backend, LI, "李建国", sender_key="s")
    assert li.payments[0].paid_on == date(2025, 6, 20)  # 45828 is that day as an Excel serial number
    wang = await subsidies.query(backend, WANG, "王五", sender_key="s")
    assert (wang.payments[0].paid_on, wang.payments[0].status) == (None, "待发放")


# ---------------------------------------------------------------- bad and mixed files


async def test_every_bad_row_is_reported_and_nothing_is_imported(backend: Backend, tmp_path: Path) -> None:
    bad = [
        ["4", ZHANG[:-1] + "3", "张秀英", "", "2025", "", "100", "2025-06-20", "", "", "", "", "", ""],
        ["5", LI, "", "", "2025", "", "0", "2025-06-20", "", "", "", "", "", ""],
        ["6", LI, "李建国", "", "2025", "", "12.345", "2025-02-30", "", "", "", "", "", ""],
        ["7", WANG, "王五", "", "", "", "abc", "", "", "", "62A1", "", "", "12345"],
    ]  # fmt: skip
    path = write_csv(tmp_path / "mixed.csv", [HEADER, *GOOD, *bad], "gbk")
    report = await run(backend, path)
    assert not report.imported and report.added == 0
    assert await count(backend) == 0
    assert [(r.row, r.id_masked) for r in report.rejected] == [
        (5, "510***********1233"),
        (6, LI[:3] + "*" * 11 + LI[-4:]),
        (7, LI[:3] + "*" * 11 + LI[-4:]),
        (8, WANG[:3] + "*" * 11 + WANG[-4:]),
    ]
    reasons = [" / ".join(r.reasons) for r in report.rejected]
    assert "check digit" in reasons[0]
    assert "name is empty" in reasons[1] and "more than 0" in reasons[1]
    assert "more than 2 decimals" in reasons[2] and "does not exist" in reasons[2]
    assert all(word in reasons[3] for word in ("not a number", "no year", "account", "phone"))


async def test_a_numeric_id_cell_gets_a_hint(backend: Backend, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "ids.xlsx",
        [["身份证号码", "姓名", "年度", "金额"], [5.10922195608141e17, "张秀英", 2025, 10]],
    )
    report = await run(backend, path)
    assert "format the column as text" in report.rejected[0].reasons[0]


async def test_a_file_without_the_needed_columns_is_refused(backend: Backend, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "other.csv", [["编号", "户主", "数目"], ["1", "张三", "5"]], "utf-8")
    with pytest.raises(ImportProblem, match="--mapping"):
        await run(backend, path)


# ---------------------------------------------------------------- idempotence and mapping


async def test_importing_the_same_file_twice_adds_nothing(backend: Backend, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", [HEADER, *GOOD, GOOD[0]], "utf-8")
    first = await run(backend, path)
    assert (first.added, first.repeated, first.already) == (3, 1, 0)
    again = await run(backend, path)
    assert (again.added, again.already) == (0, 3)
    assert await count(backend) == 3
    # The same payment entered one by one (as the demo and transcripts do) is the same row too.
    await subsidies.add_record(
        backend, id_number=LI, name="李建国", programme=PROGRAMME, year=2025, standard="每亩105元",
        amount=Decimal("1050"), paid_on=date(2025, 6, 20), method="一卡通", status="已发放",
    )  # fmt: skip
    assert await count(backend) == 3


async def test_a_mapping_names_other_headers_and_fills_defaults(backend: Backend, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[columns]\nid_number = "证件号"\nname = ["户主", "户主姓名"]\namount = "实发数"\nyear = "年"\n\n'
        '[defaults]\nmethod = "一卡通"\nstatus = "已发放"\ndepartment = "县农业农村局"\n',
        encoding="utf-8",
    )
    path = write_csv(
        tmp_path / "town.csv", [["证件号", "户主", "实发数", "年"], [ZHANG, "张秀英", "105", "2024"]], "utf-8"
    )
    report = await run(backend, path, mapping=load_mapping(mapping), departments=("县农业农村局",))
    assert report.added == 1
    (row,) = (await backend.session.execute(select(SubsidyRecord))).scalars()
    assert (row.method, row.status, row.department, row.year) == ("一卡通", "已发放", "县农业农村局", 2024)

    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[columns]\nsalary = "工资"\n', encoding="utf-8")
    with pytest.raises(ImportProblem, match="unknown field"):
        load_mapping(wrong)


async def test_departments_are_checked_against_the_bot(backend: Backend, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", [HEADER, *GOOD], "utf-8")
    report = await run(backend, path, departments=("县农业农村局",))
    assert [r.row for r in report.rejected] == [3]
    assert "县人社局" in report.rejected[0].reasons[0]


def test_cells_in_the_ways_people_write_them() -> None:
    today = date(2026, 3, 2)
    for raw in (
        "2024-03-05",
        "2024/3/5",
        "2024.3.5",
        "2024年3月5日",
        "20240305",
        "2024-03-05 00:00:00",
        45356,
    ):
        assert cells.day(raw, today=today) == date(2024, 3, 5), raw
    assert cells.day(datetime(2024, 3, 5, 8, 30), today=today) == date(2024, 3, 5)
    for raw, expected in (("1,200.50", "1200.50"), ("￥88元", "88"), (892.5, "892.5"), ("１２", "12")):
        assert cells.amount(raw) == Decimal(expected), raw
    for wrong in ("-5", "0", "1.005", "1e3x", ""):
        with pytest.raises(cells.BadCell):
            cells.amount(wrong)
    assert cells.year("2025年度", today=today) == 2025
    assert cells.phone("+86 139-1234-5678") == "13912345678"
    assert cells.phone(13912345678.0) == "13912345678"


# ---------------------------------------------------------------- the command


def _sunshine(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUNSHINE_")}
    env.update(
        SUNSHINE_DATA_DIR=str(tmp_path / "data"),
        SUNSHINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cli.db'}",
    )
    command = [str(Path(sys.executable).with_name("sunshine")), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )


def test_the_command_imports_reports_and_refuses(tmp_path: Path) -> None:
    assert _sunshine(tmp_path, "db", "upgrade").returncode == 0
    good = write_csv(tmp_path / "good.csv", [HEADER, *GOOD], "gbk")
    first = _sunshine(tmp_path, "subsidies", "import", str(good), "--programme", PROGRAMME)
    assert first.returncode == 0, first.stderr
    assert "header in row 1, 3 data rows" in first.stdout and "added 3" in first.stdout
    second = _sunshine(tmp_path, "subsidies", "import", str(good), "--programme", PROGRAMME)
    assert second.returncode == 0 and "added 0; 3 already imported before; nothing new" in second.stdout

    bad_row = [
        "9",
        WANG[:-1] + ("0" if WANG[-1] != "0" else "1"),
        "王五",
        "",
        "2025",
        "",
        "5",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    bad = write_csv(tmp_path / "bad.xlsx.csv", [HEADER, *GOOD, bad_row], "utf-8")
    refused = _sunshine(tmp_path, "subsidies", "import", str(bad), "--programme", PROGRAMME)
    assert refused.returncode == 1
    assert "row 5 (510***********" in refused.stdout and "nothing was imported" in refused.stdout
    assert WANG[:-1] not in refused.stdout + refused.stderr

    missing = _sunshine(tmp_path, "subsidies", "import", str(good), "--programme", "x", "--bot", "nobody")
    assert (
        missing.returncode == 1 and "no bot 'nobody'" in missing.stderr and "Traceback" not in missing.stderr
    )


# ---------------------------------------------------------------- cost


async def test_import_speed_is_reported(backend: Backend, tmp_path: Path) -> None:
    """Not a benchmark (see benchmarks/): a printed rate, so a regression is seen when it happens."""
    rows = [["身份证号码", "姓名", "年度", "发放金额", "发放日期", "银行账号"]]
    for index in range(20_000):
        number = make_id_number(
            "510922", date(1940 + index % 60, 1 + index % 12, 1 + index % 28), index % 1000
        )
        rows.append(
            [number, f"村民{index}", "2025", f"{100 + index % 900}.50", "2025-06-20", f"6217{index:015d}"]
        )
    path = write_csv(tmp_path / "big.csv", rows, "utf-8")
    began = time.perf_counter()
    report = await run(backend, path)
    took = time.perf_counter() - began
    assert report.added + report.repeated == 20_000
    print(f"\nimport: {report.rows} rows in {took:.2f} s, {report.rows / took:,.0f} rows/s")


async def test_an_id_number_in_the_wrong_column_is_masked_in_the_reasons(
    backend: Backend, tmp_path: Path
) -> None:
    """Found by the fuzzing drill: a reason quotes the cell, and the cell held a whole ID number."""
    row = ["1", LI, "李建国", "", "2025", "", ZHANG, "2025-06-20", "", "", "", "", "", WANG]
    path = write_csv(tmp_path / "swapped.csv", [HEADER, row], "utf-8")
    report = await run(backend, path)
    reasons = " / ".join(report.rejected[0].reasons)
    assert "phone" in reasons and "implausibly large" in reasons
    assert ZHANG not in reasons and WANG not in reasons
    assert ZHANG[:3] + "*" * 11 + ZHANG[-4:] in reasons and WANG[:3] + "*" * 11 + WANG[-4:] in reasons
