"""Survey campaigns from the desk: the same rules as `sunshine survey send`, checked first, then sent."""

from __future__ import annotations

from typing import Any

from aiohttp import FormData
from sqlalchemy import func, select

from bots.bootstrap import Deployment
from storage.models import AuditEvent, OutboxMessage, Survey
from tests.desk.conftest import World

CSV = (
    "\ufeff手机号,服务事项,窗口,工作人员,部门,办理时间\n"
    "13900000001,不动产登记,3号窗口,李梅,县政务服务中心,2026-03-01 09:30\n"
    "13900000002,社保卡补办,5号窗口,王强,县人社局,2026-03-01 10:05\n"
    "not-a-phone,社保卡补办,5号窗口,王强,县人社局,2026-03-01 10:05\n"
).encode()


def upload(desk: Any, *, dry_run: bool) -> FormData:
    form = FormData()
    form.add_field("csrf", desk.csrf)
    form.add_field("file", CSV, filename="records.csv", content_type="text/csv")
    if dry_run:
        form.add_field("dry_run", "1")
    return form


async def counts(deployment: Deployment) -> tuple[int, int]:
    async with deployment.services.database.reading() as session:
        surveys = await session.scalar(select(func.count()).select_from(Survey))
        queued = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "survey")
        )
    return int(surveys or 0), int(queued or 0)


async def test_a_supervisor_checks_then_sends_a_file_of_service_records(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    before = await counts(deployment)
    sue = await desk_as("sue")
    await sue.get("/desk/surveys")

    checked = await sue.client.post("/desk/surveys", data=upload(sue, dry_run=True))
    page = await checked.text()
    assert checked.status == 200
    assert "检查结果（未发送）" in page and "<th>读取行数</th><td>3</td>" in page
    assert await counts(deployment) == before  # a check writes nothing

    sent = await sue.client.post("/desk/surveys", data=upload(sue, dry_run=False))
    page = await sent.text()
    assert sent.status == 200 and "发送结果" in page, page
    surveys, queued = await counts(deployment)
    assert (surveys - before[0], queued - before[1]) == (2, 2)  # the bad phone row is reported, not sent
    async with deployment.services.database.reading() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "sue")))
    assert "survey.send" in actions


async def test_staff_of_a_department_cannot_send_surveys(world: World, desk_as: Any) -> None:
    alice = await desk_as("alice")
    assert (await alice.get("/desk/surveys")).status == 403
