"""Linking a repeated petition to the open case it repeats, at submission."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core import cases, duplicates
from core.backend import Backend
from core.cases import CaseDraft, Contact, LookupOutcome
from core.clock import FixedClock
from core.likeness import fingerprint, similarity
from storage.duplicate_models import CaseGram
from storage.models import Case

LIGHTS = "城关镇东风村幸福路的路灯坏了三个星期了，晚上一片漆黑，老人小孩出门很危险，请住建局尽快派人维修。"
LIGHTS_AGAIN = (
    "再次反映：城关鎮東風村幸福路的路燈壞了三個星期了！晚上一片漆黑，老人小孩出門很危險。請盡快維修！！"
)
LIGHTS_RETOLD = "我们东风村幸福路那一段天黑以后根本看不见路，路灯三个星期不亮了，希望赶快修好"
OTHER_VILLAGE = (
    "城关镇红旗村幸福路的路灯坏了三个星期了，晚上一片漆黑，老人小孩出门很危险，请住建局尽快派人维修。"
)
WAGES = "鑫达建筑公司拖欠我们12个工人3个月的工资，一共86000元，老板王某某电话也不接了。"


def draft(
    text: str = LIGHTS, who: str | None = "+8613800138000", channel: str = "sms", **changes: Any
) -> CaseDraft:
    values: dict[str, Any] = {
        "bot_id": "county",
        "kind": "complaint",
        "description": text,
        "department": "县住建局",
        "contact": Contact(channel=channel, address=who, conversation_id=None) if who else None,
    }
    values.update(changes)
    return CaseDraft(**values)


async def file(backend: Backend, *args: Any, **kwargs: Any) -> duplicates.Filed:
    return await duplicates.submit(backend, draft(*args, **kwargs))


async def test_a_first_report_stands_alone(backend: Backend) -> None:
    filed = await file(backend)
    assert filed.linked is None
    case = await backend.session.get(Case, filed.receipt.case_id)
    assert case is not None and case.primary_id is None


async def test_the_same_person_retelling_it_is_linked_and_may_see_the_number(backend: Backend) -> None:
    first = await file(backend)
    again = await file(backend, LIGHTS_RETOLD)
    assert again.linked is not None
    assert again.linked.case_id == first.receipt.case_id and again.linked.number == first.receipt.number
    assert again.linked.same_person
    assert again.receipt.number != first.receipt.number  # their own number and password all the same

    await cases.accept(backend, first.receipt.case_id, "staff:li")
    await cases.reply(backend, first.receipt.case_id, "staff:li", "已安排维修")
    seen = await cases.lookup(
        backend, again.receipt.number.replace("-", ""), again.receipt.password, sender_key="k"
    )
    assert seen.outcome is LookupOutcome.FOUND and seen.case is not None
    assert seen.case.merged and seen.case.latest_reply == "已安排维修"
    events = [e for e in await cases.timeline(backend, again.receipt.case_id) if e.action == "merged"]
    assert [(e.actor, e.detail) for e in events] == [
        ("system:duplicates", {"role": "duplicate", "primary": first.receipt.number})
    ]


async def test_near_identical_text_from_someone_else_is_linked(backend: Backend) -> None:
    first = await file(backend)
    again = await file(backend, LIGHTS_AGAIN, who="oWx-neighbour", channel="wechat")
    assert again.linked is not None and again.linked.case_id == first.receipt.case_id
    assert not again.linked.same_person


async def test_an_anonymous_tip_can_match_by_text(backend: Backend) -> None:
    tip = "举报东风村村支书王某某把低保名额给了自己的亲戚，他家有车有房根本不困难，请民政局调查。"
    first = await file(backend, tip, kind="tip", department="县民政局")
    again = await file(
        backend, "【重复举报】" + tip, who=None, kind="tip", department="县民政局", anonymous=True
    )
    assert again.linked is not None and again.linked.case_id == first.receipt.case_id


async def test_a_retelling_by_someone_else_is_not_near_identical(backend: Backend) -> None:
    await file(backend)
    assert (await file(backend, LIGHTS_RETOLD, who="oWx-neighbour", channel="wechat")).linked is None


async def test_the_same_text_to_another_department_or_kind_is_not_linked(backend: Backend) -> None:
    await file(backend)
    assert (
        await file(backend, LIGHTS_AGAIN, who="tg-1", channel="telegram", department="县交通运输局")
    ).linked is None
    assert (
        await file(backend, LIGHTS_AGAIN, who="tg-2", channel="telegram", kind="suggestion")
    ).linked is None


async def test_the_same_person_sending_it_to_several_departments_is_linked(backend: Backend) -> None:
    """一信多投: one letter to many offices is still one matter."""
    first = await file(backend)
    again = await file(backend, LIGHTS_AGAIN, department="县政务服务中心")
    assert again.linked is not None and again.linked.case_id == first.receipt.case_id


async def test_the_same_person_on_another_channel_is_recognised_by_phone(backend: Backend) -> None:
    tip = "举报鑫达建筑公司老板王某某行贿村干部，工程款被截留了三十多万元。"
    first = await file(backend, tip, kind="tip", department="县住建局")
    named = draft(
        "我上次短信举报过鑫达建筑公司王某某行贿的事，三十多万工程款被截留，到现在没人管",
        who="oWx-42",
        channel="wechat",
        kind="tip",
        reporter={"name": "李建国", "phone": "138 0013 8000"},
    )
    again = await duplicates.submit(backend, named)
    assert again.linked is not None and again.linked.case_id == first.receipt.case_id
    assert again.linked.same_person


async def test_the_same_person_with_another_matter_is_not_linked(backend: Backend) -> None:
    await file(backend)
    assert (await file(backend, WAGES, department="县人社局")).linked is None


async def test_a_copy_template_from_another_village_is_not_linked(backend: Backend) -> None:
    await file(backend)
    assert (await file(backend, OTHER_VILLAGE, who="+8613900139000")).linked is None


async def test_after_the_window_nothing_is_linked(backend: Backend, clock: FixedClock) -> None:
    await file(backend)
    clock.advance(days=backend.policy.duplicate_window_days + 1)
    assert (await file(backend, LIGHTS_AGAIN)).linked is None
    assert (await file(backend, LIGHTS_AGAIN, who="oWx-neighbour", channel="wechat")).linked is not None


async def test_a_closed_case_is_dropped_from_the_index_and_never_a_primary(backend: Backend) -> None:
    first = await file(backend)
    case_id = first.receipt.case_id
    grams = select(func.count()).select_from(CaseGram).where(CaseGram.case_id == case_id)
    assert (await backend.session.execute(grams)).scalar_one() > 0
    await cases.decline(backend, case_id, "staff:li", "已由村委会处理")
    assert (await backend.session.execute(grams)).scalar_one() == 0
    await cases.close(backend, case_id, "staff:li")
    assert (await file(backend, LIGHTS_AGAIN)).linked is None  # the same person: found, but closed


async def test_a_repeat_of_a_duplicate_joins_the_primary(backend: Backend) -> None:
    first = await file(backend)
    second = await file(backend, LIGHTS_AGAIN, who="oWx-neighbour", channel="wechat")
    assert second.linked is not None
    third = await file(backend, LIGHTS_AGAIN + "现在情况越来越严重了", who="oWx-neighbour", channel="wechat")
    assert third.linked is not None and third.linked.case_id == first.receipt.case_id


async def test_a_split_case_stays_apart_from_later_links(backend: Backend) -> None:
    first = await file(backend)
    again = await file(backend, LIGHTS_AGAIN, who="oWx-neighbour", channel="wechat")
    await cases.split(backend, again.receipt.case_id, actor="staff:li")
    case = await backend.session.get(Case, again.receipt.case_id)
    assert case is not None and case.primary_id is None
    assert first.receipt.case_id != again.receipt.case_id


async def test_short_texts_do_not_link_by_text_alone(backend: Backend) -> None:
    await file(backend, "路灯坏了")
    assert (await file(backend, "路灯坏了", who="oWx-neighbour", channel="wechat")).linked is None
    assert (await file(backend, "路灯坏了")).linked is not None  # the same person, though


def test_similarity_folds_noise_and_weighs_named_details() -> None:
    lights = fingerprint(LIGHTS)
    assert similarity(lights, fingerprint(LIGHTS)) == 100
    assert similarity(lights, fingerprint(LIGHTS_AGAIN)) >= 85
    assert similarity(lights, fingerprint(OTHER_VILLAGE)) < 50  # below even the same-person threshold
    assert similarity(lights, fingerprint(WAGES)) < 30
    assert similarity(fingerprint(""), lights) == 0
    assert fingerprint("ＡＢＣ　１２３，查詢！").text == "abc123查询"


def test_two_firms_of_one_trade_are_two_matters_and_a_firm_named_short_is_the_same() -> None:
    """A wage complaint pasted from one template names its firm before the trade ("星鹤劳务公司"): the
    two characters before 公司 are the trade, which every labour firm shares, so the name is read
    before it. Retold without the trade ("星鹤公司"), it is still the same firm."""
    template = "我在{firm}干活，老板刘某某欠了我们4个月工资没发，我们一共29个人，总共220000元。"
    ours = fingerprint(template.format(firm="星鹤劳务公司"))
    assert similarity(ours, fingerprint(template.format(firm="后西劳务公司"))) < 50
    assert similarity(ours, fingerprint(template.format(firm="岗光水泥厂"))) < 50
    assert similarity(ours, fingerprint(template.format(firm="星鹤公司"))) >= 85
    assert fingerprint("举报花凤汽修厂和兴旺养殖场").details == {"firm": frozenset({"花凤", "兴旺"})}
