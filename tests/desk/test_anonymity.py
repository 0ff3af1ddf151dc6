"""A tip's reporter stays hidden: not in pages, not in the HTML source, not in exports, not in the event
stream. A supervisor can reveal it with a reason; the reveal is audited without the identity itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bots.bootstrap import Deployment
from core.clock import FixedClock
from storage.models import AuditEvent, Handoff
from tests.desk.conftest import REPORTER, TIP_SESSION, World, say

SECRETS = (REPORTER["name"], REPORTER["phone"], TIP_SESSION)


def _leaks(body: str) -> list[str]:
    return [secret for secret in SECRETS if secret in body]


async def test_department_staff_never_see_a_tips_reporter_or_channel(world: World, desk_as: Any) -> None:
    alice = await desk_as("alice")  # the tip is about her department
    page = await alice.get(f"/desk/cases/{world.tip}")
    body = await page.text()
    assert page.status == 200
    assert "村会计挪用低保资金" in body
    assert "匿名/保密" in body
    assert _leaks(body) == []
    assert "网页" not in body  # not even which channel it came from
    assert "/reveal" not in body  # and no way to ask
    listing = await (await alice.get("/desk/cases?kind=tip")).text()
    assert _leaks(listing) == [] and "保密" in listing
    # Filtering by channel would tell the channel: tips never match a channel filter.
    by_channel = await (await alice.get("/desk/cases?channel=webchat")).text()
    assert world.numbers[world.case_a][:4] in by_channel
    assert "村会计" not in by_channel
    assert (await alice.post(f"/desk/cases/{world.tip}/reveal", {"reason": "想看"})).status == 403


async def test_a_fully_anonymous_tip_says_so_and_has_nothing_to_reveal(world: World, desk_as: Any) -> None:
    sue = await desk_as("sue")
    body = await (await sue.get(f"/desk/cases/{world.anonymous_tip}")).text()
    assert "完全匿名" in body and "/reveal" not in body and "不通知" in body


async def test_exports_leave_the_reporter_out(world: World, desk_as: Any) -> None:
    sue = await desk_as("sue")
    export = await sue.get("/desk/export/cases.csv")
    body = (await export.read()).decode("utf-8-sig")
    assert "村会计挪用低保资金" in body
    assert _leaks(body) == []
    tip_row = next(line for line in body.splitlines() if "村会计" in line)
    assert ",保密," in tip_row


async def test_a_supervisor_reveals_with_a_reason_and_it_is_audited(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    sue = await desk_as("sue")
    page = await (await sue.get(f"/desk/cases/{world.tip}")).text()
    assert _leaks(page) == []  # supervisors too, until they ask
    assert "/reveal" in page

    refused = await sue.post(f"/desk/cases/{world.tip}/reveal", {"reason": "  "})
    assert refused.status == 303
    revealed = await sue.post(f"/desk/cases/{world.tip}/reveal", {"reason": "核实举报线索"})
    body = await revealed.text()
    assert revealed.status == 200
    assert revealed.headers["Cache-Control"] == "no-store"
    assert all(secret in body for secret in SECRETS)

    async with deployment.services.database.reading() as session:
        rows = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "case.reveal")))
    [row] = rows
    assert (row.actor, row.target_type, row.target_id) == ("sue", "case", str(world.tip))
    assert row.detail == {"reason": "核实举报线索", "revealed": True}
    assert row.source == "desk 127.0.0.1"
    # Reloading the case shows the secret block again, not the identity.
    again = await (await sue.get(f"/desk/cases/{world.tip}")).text()
    assert _leaks(again) == []


async def test_a_reason_that_contains_an_id_number_is_refused(world: World, desk_as: Any) -> None:
    sue = await desk_as("sue")
    response = await sue.post(f"/desk/cases/{world.tip}/reveal", {"reason": "核对 430721195204181249"})
    assert response.status == 303
    page = await (await sue.get(f"/desk/cases/{world.tip}")).text()
    assert "不要写身份证号码" in page and _leaks(page) == []


async def test_a_tip_typed_to_the_bot_stays_out_of_department_staffs_transcript(
    world: World, desk_as: Any, deployment: Deployment, clock: FixedClock
) -> None:
    reporter = "11112222333344445555666677778888"
    steps = [
        "举报",
        "财务室的会计挪用公款。",
        "完成",
        "城关",
        "实名",
        REPORTER["name"],
        REPORTER["phone"],
        "对",
    ]
    for index, text in enumerate([*steps, "人工", "我还有情况要反映"]):
        clock.advance(seconds=20)
        await say(deployment, reporter, f"t{index}", text)
    async with deployment.services.database.reading() as session:
        handoff_id = await session.scalar(select(func.max(Handoff.id)))
    alice = await desk_as("alice")
    page = await (await alice.get(f"/desk/handoffs/{handoff_id}")).text()
    assert "我还有情况要反映" in page and "人工" in page
    assert REPORTER["name"] not in page and REPORTER["phone"] not in page and "挪用公款" not in page
    assert "仅纪检监察人员可见" in page
    stream = await alice.client.get(f"/desk/events?handoff={handoff_id}")
    block = (await stream.content.readuntil(b"event: transcript\n")) + await stream.content.readuntil(b"\n\n")
    stream.close()
    assert "我还有情况要反映" in block.decode() and REPORTER["name"] not in block.decode()

    sue = await desk_as("sue")
    history = await (await sue.get(f"/desk/handoffs/{handoff_id}")).text()
    assert REPORTER["name"] in history and "挪用公款" in history
