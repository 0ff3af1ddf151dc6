"""Citizens hear about status changes on their own channel, in their language, unless fully anonymous."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bots.bootstrap import Deployment
from bots.desk.context import Desk as DeskContext
from core import cases
from core.cases import CaseDraft, Contact
from core.messages import Capabilities, Inbound
from core.receipts import format_case_number
from storage.models import Case, Conversation, OutboxMessage
from tests.desk.conftest import CITIZEN, DEPT_A, World, conversation_id


async def _notices(deployment: Deployment) -> list[OutboxMessage]:
    async with deployment.services.database.reading() as session:
        return list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "notice").order_by(OutboxMessage.id)
            )
        )


async def test_accepting_a_web_chat_case_queues_one_notice_with_the_exact_text(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    assert (await alice.post(f"/desk/cases/{world.case_a}/accept")).status == 303
    [notice] = await _notices(deployment)
    number = format_case_number(world.numbers[world.case_a])
    assert notice.payload == {
        "text": f"您反映的事项（编号{number}）已受理，我们会在2026年3月23日前答复您。",
        "choices": [],
    }
    assert (notice.channel, notice.bot_id, notice.status) == ("webchat", "demo", "pending")
    assert notice.conversation_id == await conversation_id(deployment, CITIZEN)
    assert deployment.services.keyring.decrypt(notice.address_enc) == CITIZEN
    # Accepting again is refused by the case rules, and nothing more is sent.
    await alice.post(f"/desk/cases/{world.case_a}/accept")
    assert len(await _notices(deployment)) == 1


async def test_each_status_change_has_its_notice_and_notes_and_merges_have_none(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    case = f"/desk/cases/{world.case_a}"
    await alice.post(case + "/note", {"text": "内部：已电话联系"})
    await alice.post(f"/desk/cases/{world.case_a2}/merge", {"into": world.numbers[world.case_a]})
    assert await _notices(deployment) == []
    for action, form in [
        ("accept", {}),
        ("assign", {"department": "县人社局"}),
    ]:
        assert (await alice.post(f"{case}/{action}", form)).status == 303
    sue = await desk_as("sue")  # the case left Alice's department
    for action, form in [("start", {}), ("reply", {"text": "已恢复发放，补发3个月。"}), ("close", {})]:
        assert (await sue.post(f"{case}/{action}", form)).status == 303
    number = format_case_number(world.numbers[world.case_a])
    assert [row.payload["text"] for row in await _notices(deployment)] == [
        f"您反映的事项（编号{number}）已受理，我们会在2026年3月23日前答复您。",
        f"您反映的事项（编号{number}）已交由县人社局办理，答复期限为2026年3月23日。",
        f"您反映的事项（编号{number}）正在办理中。",
        f"您反映的事项（编号{number}）已答复：\n已恢复发放，补发3个月。\n如需再看，请回复“查询”。",
        f"您反映的事项（编号{number}）已办结，感谢您的支持。对办理结果有意见，请回复“评价”。",
    ]


async def test_a_decline_tells_the_reason(world: World, desk_as: Any, deployment: Deployment) -> None:
    alice = await desk_as("alice")
    await alice.post(
        f"/desk/cases/{world.case_a}/decline", {"reason": "不属于本部门职责，请向县人社局反映。"}
    )
    [notice] = await _notices(deployment)
    assert notice.payload["text"].endswith("不予受理。原因：不属于本部门职责，请向县人社局反映。")


async def test_a_fully_anonymous_tip_gets_no_notice(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    sue = await desk_as("sue")
    tip = f"/desk/cases/{world.anonymous_tip}"
    for action, form in [("accept", {}), ("reply", {"text": "已立案调查。"}), ("close", {})]:
        assert (await sue.post(f"{tip}/{action}", form)).status == 303
    assert await _notices(deployment) == []
    page = await (await sue.get(tip)).text()
    assert "已办结" in page and "通知市民" not in page.split("办理记录")[1]


async def test_sms_gets_the_short_form_and_each_citizen_their_own_language(
    world: World, deployment: Deployment
) -> None:
    services = deployment.services
    context = DeskContext.for_deployment(deployment)
    citizen = await conversation_id(deployment, CITIZEN)
    async with services.database.transaction() as session:
        b = services.backend(session)
        await session.execute(
            update(Conversation).where(Conversation.id == citizen).values(language="zh_Hant")
        )
        sms = await cases.submit(
            b,
            CaseDraft(
                bot_id="demo",
                kind="complaint",
                description="短信反映",
                department=DEPT_A,
                contact=Contact("sms", "+8613800138000", None),
            ),
        )
        for case_id in (sms.case_id, world.case_a):
            accepted = await cases.accept(b, case_id, "staff:alice")
            await context.notifier.case_status(b, accepted)
        numbers = {
            row.id: format_case_number(row.number)
            for row in await session.scalars(select(Case).where(Case.id.in_([sms.case_id, world.case_a])))
        }
    short, traditional = await _notices(deployment)
    assert (short.channel, short.payload["text"]) == (
        "sms",
        f"您的事项{numbers[sms.case_id]}已受理，2026年3月23日前答复。",
    )
    assert (
        traditional.payload["text"]
        == f"您反映的事項（編號{numbers[world.case_a]}）已受理，我們會在2026年3月23日前答覆您。"
    )


async def test_the_case_page_shows_whether_the_notice_arrived(
    world: World, desk_as: Any, deployment: Deployment
) -> None:
    alice = await desk_as("alice")
    await alice.post(f"/desk/cases/{world.case_a}/accept")
    assert "排队中" in await (await alice.get(f"/desk/cases/{world.case_a}")).text()
    fetched = await deployment.mailbox.fetch("demo", "webchat", CITIZEN, 0)
    assert any("已受理" in message.text for _, message in fetched)
    assert "已送达" in await (await alice.get(f"/desk/cases/{world.case_a}")).text()


async def test_a_wechat_reporter_silent_for_48_hours_is_told_by_sms_at_the_phone_they_left(
    world: World, deployment: Deployment, clock: Any
) -> None:
    services = deployment.services
    context = DeskContext.for_deployment(deployment)  # the demo bot answers on SMS too
    openid = "oWechatReporter0000000000001"
    await deployment.pipeline.handle(
        Inbound("wechat", "demo", openid, "wx-1", "你好"), Capabilities(), inline=True
    )
    async with services.database.transaction() as session:
        b = services.backend(session)
        wechat = await session.scalar(select(Conversation.id).where(Conversation.channel == "wechat"))
        named = await cases.submit(
            b,
            CaseDraft(
                bot_id="demo",
                kind="tip",
                description="村干部收钱",
                department=DEPT_A,
                reporter={"name": "王五", "phone": "13700000007"},
                contact=Contact("wechat", openid, wechat),
            ),
        )
        await context.notifier.case_status(b, await cases.accept(b, named.case_id, "staff:sue"))

    clock.advance(hours=49)
    async with services.database.transaction() as session:
        b = services.backend(session)
        await context.notifier.case_status(
            b, await cases.assign(b, named.case_id, "staff:sue", DEPT_A)
        )

    within, after = await _notices(deployment)
    assert (within.channel, services.keyring.decrypt(within.address_enc)) == ("wechat", openid)
    assert (after.channel, services.keyring.decrypt(after.address_enc)) == ("sms", "+8613700000007")
    assert after.payload["text"] == f"事项{named.number}已交县民政局办理，2026年4月14日前答复。"  # short form
