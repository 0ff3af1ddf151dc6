from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core import audit, handoff, inbox, outbox
from core.backend import Backend
from core.clock import FixedClock
from core.idcard import make_id_number
from core.messages import Attachment, Choice, Inbound, Outbound
from storage.models import AuditEvent, Conversation, OutboxMessage

PHONE = "+8613800138000"


async def citizen_says(
    b: Backend, message_id: str, text: str, *, sender: str = PHONE, bot_id: str = "county", **kwargs: object
) -> inbox.Received:
    return await inbox.receive(b, Inbound("sms", bot_id, sender, message_id, text, **kwargs))


async def bot_says(b: Backend, received: inbox.Received, outbound: Outbound) -> OutboxMessage:
    return await outbox.enqueue(
        b,
        bot_id="county",
        channel="sms",
        address=PHONE,
        outbound=outbound,
        conversation_id=received.conversation.id,
        inbound_id=received.inbound_id,
        inline=True,
    )


async def test_asking_twice_queues_the_conversation_once(backend: Backend, clock: FixedClock) -> None:
    received = await citizen_says(backend, "m1", "人工")
    conversation = received.conversation
    first = await handoff.open_handoff(backend, bot_id="county", conversation=conversation, reason="asked")

    assert conversation.mode == "handoff"
    assert (first.status, first.reason, first.channel, first.claimed_by) == ("waiting", "asked", "sms", None)
    assert first.conversation_id == conversation.id
    assert first.opened_at == clock.now()
    assert first.last_text == "人工"

    clock.advance(minutes=1)
    await citizen_says(backend, "m2", "有人吗")
    again = await handoff.open_handoff(backend, bot_id="county", conversation=conversation, reason="asked")
    assert again.id == first.id
    assert again.last_text == "有人吗"
    assert await handoff.active_for(backend, conversation.id) == again
    assert len(await handoff.list_open(backend)) == 1


async def test_the_desk_queue_is_oldest_first_per_bot(backend: Backend, clock: FixedClock) -> None:
    views = []
    for index, (bot_id, sender) in enumerate([("county", "+861"), ("town", "+862"), ("county", "+863")]):
        received = await citizen_says(backend, f"m{index}", f"问题{index}", sender=sender, bot_id=bot_id)
        await citizen_says(
            backend, f"v{index}", "", sender=sender, bot_id=bot_id, attachments=(Attachment("image"),)
        )
        views.append(
            await handoff.open_handoff(
                backend, bot_id=bot_id, conversation=received.conversation, reason="not_understood"
            )
        )
        clock.advance(minutes=1)

    queue = await handoff.list_open(backend)
    assert [v.id for v in queue] == [v.id for v in views]
    assert [v.last_text for v in queue] == ["问题0", "问题1", "问题2"]  # the photo carried no words
    assert [v.id for v in await handoff.list_open(backend, bot_id="county")] == [views[0].id, views[2].id]

    await handoff.close_handoff(backend, views[0].id, staff="li", notice=None)
    assert [v.id for v in await handoff.list_open(backend)] == [views[1].id, views[2].id]


async def test_transcript_merges_both_sides_in_order(backend: Backend, clock: FixedClock) -> None:
    first = await citizen_says(backend, "m1", "菜单")
    await bot_says(backend, first, Outbound("请选择", choices=(Choice("a", "投诉"), Choice("b", "查询"))))
    clock.advance(minutes=1)
    # The platform stamped this message a little ahead of our clock; the reply still follows it.
    second = await citizen_says(
        backend,
        "m2",
        "人工",
        received_at=clock.now() + timedelta(seconds=3),
        attachments=(
            Attachment("voice", transcript="我要找人"),
            Attachment("image", url="https://t.me/file/botSECRET/1"),
        ),
    )
    await bot_says(backend, second, Outbound("正在为您转人工"))
    opened = await handoff.open_handoff(
        backend, bot_id="county", conversation=first.conversation, reason="asked"
    )
    clock.advance(minutes=2)
    await handoff.staff_reply(backend, opened.id, staff="li", text="您好，请讲")
    clock.advance(minutes=1)
    await citizen_says(backend, "m3", "谢谢")

    lines = await handoff.transcript(backend, first.conversation.id)
    assert [(line.who, line.text) for line in lines] == [
        ("citizen", "菜单"),
        ("bot", "请选择\n1 投诉\n2 查询"),
        ("citizen", "人工\n[voice] 我要找人\n[image]"),
        ("bot", "正在为您转人工"),
        ("staff", "您好，请讲"),
        ("citizen", "谢谢"),
    ]
    assert [line.at for line in lines] == sorted(line.at for line in lines)
    assert "SECRET" not in "".join(line.text for line in lines)

    latest = await handoff.transcript(backend, first.conversation.id, limit=2)
    assert [line.text for line in latest] == ["您好，请讲", "谢谢"]


async def test_staff_reply_claims_and_goes_to_the_citizens_channel(
    backend: Backend, clock: FixedClock
) -> None:
    received = await citizen_says(backend, "m1", "人工")
    opened = await handoff.open_handoff(
        backend, bot_id="county", conversation=received.conversation, reason="asked"
    )
    clock.advance(minutes=3)

    row = await handoff.staff_reply(
        backend, opened.id, staff="li", text="  您好，我是小李  ", source="desk 10.0.0.5"
    )

    assert (row.kind, row.channel, row.bot_id, row.status) == ("staff", "sms", "county", "pending")
    assert row.conversation_id == received.conversation.id
    assert row.address_enc != PHONE and backend.keyring.decrypt(row.address_enc) == PHONE
    assert Outbound.from_json(row.payload) == Outbound("您好，我是小李")
    claimed = await handoff.active_for(backend, received.conversation.id)
    assert claimed is not None and (claimed.status, claimed.claimed_by) == ("claimed", "li")

    await handoff.staff_reply(backend, opened.id, staff="zhang", text="补充一句")
    still = await handoff.active_for(backend, received.conversation.id)
    assert still is not None and still.claimed_by == "li"  # the first to answer keeps it

    events = list(await backend.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.actor, e.action, e.target_type, e.target_id) for e in events] == [
        ("li", "handoff.reply", "handoff", str(opened.id)),
        ("zhang", "handoff.reply", "handoff", str(opened.id)),
    ]
    assert events[0].source == "desk 10.0.0.5"
    assert events[0].detail["outbox_id"] == row.id
    assert events[0].at == clock.now()

    with pytest.raises(ValueError):
        await handoff.staff_reply(backend, opened.id, staff="li", text="   ")
    with pytest.raises(LookupError):
        await handoff.staff_reply(backend, 9999, staff="li", text="hi")


async def test_close_gives_the_conversation_back_to_the_bot(backend: Backend, clock: FixedClock) -> None:
    received = await citizen_says(backend, "m1", "人工")
    conversation = received.conversation
    await inbox.save_state(backend, conversation, {"flow": "petition", "step": "describe"}, "zh_Hans")
    opened = await handoff.open_handoff(backend, bot_id="county", conversation=conversation, reason="asked")
    clock.advance(minutes=5)

    await handoff.close_handoff(
        backend, opened.id, staff="li", notice=Outbound("人工服务已结束，回复“菜单”继续")
    )

    assert (conversation.mode, conversation.state, conversation.language) == ("bot", {}, "zh_Hans")
    assert await handoff.active_for(backend, conversation.id) is None
    notices = list(await backend.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notice")))
    assert [Outbound.from_json(n.payload).text for n in notices] == ["人工服务已结束，回复“菜单”继续"]
    assert notices[0].conversation_id == conversation.id and notices[0].status == "pending"
    (event,) = await backend.session.scalars(select(AuditEvent).where(AuditEvent.action == "handoff.close"))
    assert (event.actor, event.target_id) == ("li", str(opened.id))

    with pytest.raises(handoff.HandoffClosedError):
        await handoff.staff_reply(backend, opened.id, staff="li", text="还在吗")
    await handoff.close_handoff(
        backend, opened.id, staff="zhang", notice=Outbound("again")
    )  # no second notice
    assert len(list(await backend.session.scalars(select(OutboxMessage)))) == 1

    reopened = await handoff.open_handoff(backend, bot_id="county", conversation=conversation, reason="asked")
    assert reopened.id != opened.id and reopened.status == "waiting"


async def test_closed_state_is_stored(backend: Backend) -> None:
    received = await citizen_says(backend, "m1", "人工")
    await inbox.save_state(backend, received.conversation, {"flow": "rating"}, None)
    opened = await handoff.open_handoff(
        backend, bot_id="county", conversation=received.conversation, reason="asked", department="民政局"
    )
    await handoff.close_handoff(backend, opened.id, staff="li", notice=None)
    await backend.session.flush()
    backend.session.expire_all()
    stored = (await backend.session.scalars(select(Conversation))).one()
    assert (stored.mode, stored.state) == ("bot", {})


async def test_the_audit_trail_refuses_secrets(backend: Backend) -> None:
    id_number = make_id_number("110101", date(1960, 5, 4), 123)
    with pytest.raises(ValueError):
        await audit.record(
            backend,
            actor="li",
            action="case.lookup",
            target_type="case",
            target_id="1",
            detail={"password": "x"},
        )
    with pytest.raises(ValueError):
        await audit.record(
            backend,
            actor="li",
            action="subsidy.view",
            target_type="subsidy",
            target_id="1",
            detail={"query": {"who": [f"张三 {id_number}"]}},
        )
    masked = id_number[:3] + "*" * 11 + id_number[-4:]
    await audit.record(
        backend,
        actor="li",
        action="subsidy.view",
        target_type="subsidy",
        target_id="1",
        detail={"id": masked, "phone": "13800138000"},
        source="desk",
    )
    (event,) = await backend.session.scalars(select(AuditEvent))
    assert event.detail == {"id": masked, "phone": "13800138000"}
