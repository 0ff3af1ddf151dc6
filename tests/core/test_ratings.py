from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import ratings
from core.backend import Backend
from core.clock import FixedClock
from storage.models import DepartmentWarning, Rating, Survey

PHONE = "+8613800138000"
WHO = {"bot_id": "county", "channel": "sms", "address": PHONE}


async def survey(b: Backend, **kwargs: Any) -> ratings.SurveyView:
    fields: dict[str, Any] = {"service": "户籍办理", "department": "公安局", "window": "3号窗口"}
    fields.update(kwargs)
    return await ratings.create_survey(b, **WHO, **fields)


async def test_a_survey_stays_open_until_it_expires(backend: Backend, clock: FixedClock) -> None:
    created = await survey(backend, staff_name="王芳")
    assert created.expires_at == clock.now() + timedelta(hours=72)

    row = await backend.session.get(Survey, created.id)
    assert row is not None
    assert row.address_enc != PHONE and PHONE not in row.address_enc
    assert row.address_hash == backend.keyring.lookup_hash("address", f"sms:{PHONE}")

    clock.advance(hours=71)
    assert await ratings.open_survey(backend, **WHO) == created
    assert await ratings.latest_expired_survey(backend, **WHO) is None

    clock.advance(hours=2)
    assert await ratings.open_survey(backend, **WHO) is None
    assert row.status == "expired"
    assert await ratings.latest_expired_survey(backend, **WHO) == created


async def test_the_newest_open_survey_of_that_address_is_answered(
    backend: Backend, clock: FixedClock
) -> None:
    await survey(backend, service="社保")
    clock.advance(minutes=10)
    newest = await survey(backend, service="医保")
    await ratings.create_survey(
        backend, bot_id="county", channel="sms", address="+8613900139000", service="x", department="y"
    )
    await ratings.create_survey(
        backend, bot_id="county", channel="telegram", address=PHONE, service="x", department="y"
    )

    assert await ratings.open_survey(backend, **WHO) == newest


async def test_high_grades_raise_no_warning(backend: Backend) -> None:
    for grade in (1, 2):
        view = await ratings.record(backend, bot_id="county", channel="sms", grade=grade, department="公安局")
        assert (view.grade, view.low, view.warning_id) == (grade, False, None)
    assert await ratings.warnings(backend) == []


@pytest.mark.parametrize(("grade", "level"), [(3, "yellow"), (4, "red")])
async def test_a_low_grade_raises_a_warning_card(backend: Backend, grade: int, level: str) -> None:
    asked = await survey(backend, staff_name="王芳")
    view = await ratings.record(
        backend, bot_id="county", channel="sms", grade=grade, department="公安局", survey_id=asked.id
    )

    assert view.low and view.warning_id is not None
    warning = await backend.session.get(DepartmentWarning, view.warning_id)
    assert warning is not None
    assert (warning.kind, warning.level, warning.department, warning.rating_id) == (
        "low_rating",
        level,
        "公安局",
        view.id,
    )
    assert warning.detail["service"] == "户籍办理"
    assert warning.detail["window"] == "3号窗口"
    assert warning.detail["staff"] == "王芳"
    assert warning.detail["grade"] == grade
    assert warning.resolved_at is None

    rating = await backend.session.get(Rating, view.id)
    assert rating is not None
    assert (rating.window, rating.staff_name, rating.survey_id) == ("3号窗口", "王芳", asked.id)
    assert await ratings.open_survey(backend, **WHO) is None  # answered
    assert (await backend.session.get(Survey, asked.id)).status == "answered"


@pytest.mark.parametrize("grade", [0, 5, -1, True])
async def test_grades_outside_one_to_four_are_refused(backend: Backend, grade: int) -> None:
    with pytest.raises(ValueError):
        await ratings.record(backend, bot_id="county", channel="sms", grade=grade, department="公安局")
    assert list(await backend.session.scalars(select(Rating))) == []


async def test_the_reason_reaches_the_rating_and_its_warning(backend: Backend) -> None:
    view = await ratings.record(backend, bot_id="county", channel="sms", grade=4, department="民政局")
    await ratings.add_reason(backend, view.id, "  排队两个小时没人管  ")

    rating = await backend.session.get(Rating, view.id)
    assert rating is not None and rating.reason == "排队两个小时没人管"
    (warning,) = await ratings.warnings(backend, department="民政局")
    assert warning.detail["reason"] == "排队两个小时没人管"
    assert warning.detail["grade"] == 4

    with pytest.raises(ValueError):
        await ratings.add_reason(backend, view.id, "   ")
    with pytest.raises(LookupError):
        await ratings.add_reason(backend, 9999, "?")


async def test_a_reason_for_a_good_grade_has_no_warning_to_update(backend: Backend) -> None:
    view = await ratings.record(backend, bot_id="county", channel="sms", grade=2, department="民政局")
    await ratings.add_reason(backend, view.id, "还可以更快")
    rating = await backend.session.get(Rating, view.id)
    assert rating is not None and rating.reason == "还可以更快"


async def test_satisfaction_rate(backend: Backend, clock: FixedClock) -> None:
    assert await ratings.satisfaction(backend) == ratings.Satisfaction(0, {1: 0, 2: 0, 3: 0, 4: 0}, None)

    for grade in (1, 1, 2, 3, 4):
        await ratings.record(backend, bot_id="county", channel="sms", grade=grade, department="公安局")
    clock.advance(days=1)
    since = clock.now()
    for grade in (1, 4):
        await ratings.record(backend, bot_id="county", channel="sms", grade=grade, department="民政局")

    police = await ratings.satisfaction(backend, department="公安局")
    assert police.total == 5
    assert police.by_grade == {1: 2, 2: 1, 3: 1, 4: 1}
    assert police.rate == pytest.approx(3 / 5)

    everyone = await ratings.satisfaction(backend)
    assert (everyone.total, everyone.rate) == (7, pytest.approx(4 / 7))
    recent = await ratings.satisfaction(backend, since=since)
    assert (recent.total, recent.rate) == (2, pytest.approx(0.5))


async def test_warnings_by_department_and_open_state(backend: Backend, clock: FixedClock) -> None:
    first = await ratings.record(backend, bot_id="county", channel="sms", grade=3, department="公安局")
    clock.advance(minutes=1)
    second = await ratings.record(backend, bot_id="county", channel="sms", grade=4, department="公安局")
    await ratings.record(backend, bot_id="county", channel="sms", grade=4, department="民政局")

    police = await ratings.warnings(backend, department="公安局")
    assert [w.rating_id for w in police] == [second.id, first.id]  # newest first

    police[0].resolved_at = clock.now()
    assert [w.rating_id for w in await ratings.warnings(backend, department="公安局")] == [first.id]
    assert len(await ratings.warnings(backend, department="公安局", open_only=False)) == 2
    assert len(await ratings.warnings(backend)) == 2
    assert await ratings.warnings(backend, kind="overdue") == []
