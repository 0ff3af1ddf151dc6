"""Cases at the desk: finding them, moving them through their lifecycle, merging and splitting; every
action leaves an audit event saying who, what, when and from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bots.bootstrap import Deployment
from bots.desk.cases import ACTIONS_FROM
from core import cases as core_cases
from core.cases import CaseDraft
from core.clock import FixedClock
from core.receipts import format_case_number
from storage.models import AuditEvent, Case, OutboxMessage, Survey
from tests.desk.conftest import DEPT_A, World


async def _case(deployment: Deployment, case_id: int) -> Case:
    async with deployment.services.database.reading() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return case


def _listed(body: str, world: World, *case_ids: int) -> set[int]:
    return {case_id for case_id in case_ids if format_case_number(world.numbers[case_id]) in body}


def test_the_desk_offers_exactly_what_the_case_rules_allow() -> None:
    assert ACTIONS_FROM == core_cases._ALLOWED_FROM


async def test_filters_and_search(world: World, desk_as: Any, clock: FixedClock) -> None:
    everything = (world.case_a, world.case_a2, world.case_b, world.tip, world.anonymous_tip)
    alice = await desk_as("alice")
    mine = await (await alice.get("/desk/cases")).text()
    assert _listed(mine, world, *everything) == {world.case_a, world.case_a2, world.tip, world.anonymous_tip}
    tips = await (await alice.get("/desk/cases?kind=tip")).text()
    assert _listed(tips, world, *everything) == {world.tip, world.anonymous_tip}
    by_words = await (await alice.get("/desk/cases?q=第二次")).text()
    assert _listed(by_words, world, *everything) == {world.case_a2}
    digits = world.numbers[world.case_a][3:9]
    by_number = await (await alice.get(f"/desk/cases?q={digits}")).text()
    assert world.case_a in _listed(by_number, world, *everything)
    wildcard = await (await alice.get("/desk/cases?q=%25")).text()
    assert _listed(wildcard, world, *everything) == set()  # "%" is a character to find, not a wildcard
    # A department filter does not widen a department's view.
    assert _listed(
        await (await alice.get("/desk/cases?department=县住建局")).text(), world, *everything
    ) == set(_listed(mine, world, *everything))

    sue = await desk_as("sue")
    b_only = await (await sue.get("/desk/cases?department=县住建局")).text()
    assert _listed(b_only, world, *everything) == {world.case_b}
    await sue.post(f"/desk/cases/{world.case_b}/accept")
    accepted = await (await sue.get("/desk/cases?status=accepted")).text()
    assert _listed(accepted, world, *everything) == {world.case_b}
    assert _listed(await (await sue.get("/desk/cases?overdue=1")).text(), world, *everything) == set()

    clock.advance(days=40)
    sue = await desk_as("sue")
    overdue = await (await sue.get("/desk/cases?overdue=1&kind=complaint")).text()
    assert _listed(overdue, world, *everything) == {world.case_a, world.case_a2, world.case_b}
    assert "超期" in overdue


async def test_a_case_through_its_whole_life_with_an_audit_trail(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    sue = await desk_as("sue")
    case = f"/desk/cases/{world.case_b}"
    steps = [
        ("accept", {}, "accepted"),
        ("assign", {"department": "县住建局"}, "assigned"),
        ("start", {}, "in_progress"),
        ("note", {"text": "已到现场查看"}, "in_progress"),
        ("reply", {"text": "补助已于3月5日发放。"}, "replied"),
        ("close", {}, "closed"),
    ]
    for action, form, status in steps:
        response = await sue.post(f"{case}/{action}", form)
        assert (response.status, response.headers["Location"]) == (303, case)
        assert (await _case(deployment, world.case_b)).status == status

    page = await (await sue.get(case)).text()
    for words in ("受理", "交办", "开始办理", "内部备注", "已到现场查看", "补助已于3月5日发放。", "办结"):
        assert words in page
    assert 'id="accept"' not in page and 'id="close"' not in page and 'id="add-note"' in page

    async with deployment.services.database.reading() as session:
        trail = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.target_type == "case").order_by(AuditEvent.id)
            )
        )
    assert [row.action for row in trail] == [f"case.{action}" for action, _, _ in steps]
    assert {(row.actor, row.target_id, row.source) for row in trail} == {
        ("sue", str(world.case_b), "desk 127.0.0.1")
    }
    assert [row.detail["status"] for row in trail] == [status for _, _, status in steps]
    assert all(row.at is not None and row.detail["event_id"] for row in trail)


async def test_mistakes_are_explained_and_change_nothing(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    case = f"/desk/cases/{world.case_a}"
    for action, form, message in [
        ("decline", {"reason": "  "}, "请写明不予受理的原因"),
        ("reply", {"text": ""}, "答复内容不能为空"),
        ("assign", {"department": "火星局"}, "没有这个部门"),
        ("close", {}, "案件当前状态下不能这样操作"),
    ]:
        response = await alice.post(f"{case}/{action}", form)
        assert (response.status, response.headers["Location"]) == (303, case)
        assert message in await (await alice.get(case)).text()
    assert (await _case(deployment, world.case_a)).status == "submitted"


async def test_transferring_a_case_away_returns_to_the_list(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    response = await alice.post(f"/desk/cases/{world.case_a}/assign", {"department": "县人社局"})
    assert response.headers["Location"] == "/desk/cases"
    assert "案件已不在本部门" in await (await alice.get("/desk/cases")).text()
    assert (await alice.get(f"/desk/cases/{world.case_a}")).status == 404
    assert (await _case(deployment, world.case_a)).department == "县人社局"


async def test_merge_and_split(world: World, desk_as: Any, deployment: Deployment) -> None:
    alice = await desk_as("alice")
    number_a = format_case_number(world.numbers[world.case_a])
    duplicate = f"/desk/cases/{world.case_a2}"
    assert (await alice.post(duplicate + "/merge", {"into": number_a})).status == 303
    assert (await _case(deployment, world.case_a2)).primary_id == world.case_a
    page = await (await alice.get(duplicate)).text()
    assert f"并入 {number_a}" in page and 'id="split"' in page
    primary = await (await alice.get(f"/desk/cases/{world.case_a}")).text()
    assert f"合并了 {format_case_number(world.numbers[world.case_a2])}" in primary

    again = await alice.post(duplicate + "/merge", {"into": number_a})
    assert again.status == 303
    assert (await alice.post(duplicate + "/split")).status == 303
    assert (await _case(deployment, world.case_a2)).primary_id is None

    # Not into another department's case (it does not exist as far as Alice can tell), nor into itself.
    for target in (world.numbers[world.case_b], world.numbers[world.case_a2], "123"):
        await alice.post(duplicate + "/merge", {"into": target})
        assert "找不到这个案件编号" in await (await alice.get(duplicate)).text()
    assert (await _case(deployment, world.case_a2)).primary_id is None


async def test_the_list_pages_through_many_cases(world: World, desk_as: Any, deployment: Deployment) -> None:
    async with deployment.services.database.transaction() as session:
        b = deployment.services.backend(session)
        for index in range(55):
            await core_cases.submit(
                b, CaseDraft(bot_id="demo", kind="question", description=f"问题{index}", department=DEPT_A)
            )
    alice = await desk_as("alice")
    first = await (await alice.get("/desk/cases?kind=question")).text()
    assert "第 1 / 2 页" in first and "下一页" in first
    second = await (await alice.get("/desk/cases?kind=question&page=2")).text()
    assert second.count('class="row') == 5


async def test_closing_a_case_asks_its_submitter_to_rate_it_once(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    ada = await desk_as("ada")
    case = f"/desk/cases/{world.case_a}"
    for action, form in (("accept", {}), ("reply", {"text": "已恢复发放。"}), ("close", {})):
        assert (await ada.post(f"{case}/{action}", form)).status == 303

    async with deployment.services.database.reading() as session:
        [survey] = list(await session.scalars(select(Survey).where(Survey.case_id == world.case_a)))
        asked = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey")))
    assert (survey.channel, survey.department, survey.status) == ("webchat", "县民政局", "pending")
    closing = [row for row in asked if "事项已办结，请对办理情况进行评价" in row.payload["text"]]
    assert len(closing) == 1 and closing[0].conversation_id is not None
