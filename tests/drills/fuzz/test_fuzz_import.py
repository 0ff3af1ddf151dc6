"""Payment and survey lists, fuzzed: a clear refusal with nothing written, or a complete import; never
another exception."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings

from bots.survey_import import SurveyFileError, read_survey_bytes
from tests.drills.fuzz import imports
from tests.drills.fuzz.conftest import CI
from tests.drills.fuzz.service import FuzzService

FEW = settings(CI, max_examples=15)


@FEW
@given(case=imports.subsidy_cases())
async def test_any_payment_list_is_imported_whole_or_refused_clearly(
    service: FuzzService, case: imports.FileCase
) -> None:
    _, problems = await imports.exercise_subsidies(service, case)
    assert not problems, problems


@FEW
@given(case=imports.survey_cases())
async def test_any_survey_list_is_sent_or_refused_clearly(
    service: FuzzService, case: imports.FileCase
) -> None:
    _, problems = await imports.exercise_surveys(service, case)
    assert not problems, problems


def _damaged_workbook() -> bytes:
    """A real workbook whose worksheet XML is cut short: found by the drill, it used to raise ParseError."""
    good = imports._xlsx_bytes([list(imports.PAYMENT_HEADERS), ["x"] * len(imports.PAYMENT_HEADERS)])
    return imports._swap_part(
        good, "xl/worksheets/sheet1.xml", b'<?xml version="1.0"?><worksheet><sheetData><row'
    )


async def test_a_damaged_worksheet_is_a_clear_refusal(service: FuzzService) -> None:
    case = imports.FileCase("list.xlsx", _damaged_workbook())
    assert await imports.exercise_subsidies(service, case) == ("refused", [])
    with pytest.raises(SurveyFileError, match=r"list\.xlsx: (not a readable|the worksheet is damaged)"):
        read_survey_bytes(case.data, "list.xlsx")
    assert zipfile.is_zipfile(io.BytesIO(case.data))


async def test_an_amount_of_1e400_is_a_rejected_row_not_a_crash(service: FuzzService) -> None:
    rows = [
        ["身份证号", "姓名", "金额", "年度"],
        [imports.make_id_number("110101", imports.date(1990, 3, 7), 1), "张三", "1e400", "2025"],
    ]
    case = imports.FileCase("list.csv", imports._csv_bytes(rows, "utf-8", ","))
    assert await imports.exercise_subsidies(service, case) == ("rejected", [])
    assert await service.count("subsidy_records") == 0
