from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from core import inbox, outbox
from core.backend import Backend
from core.clock import FixedClock
from core.messages import Choice, Inbound, Outbound
from storage.models import OutboxMessage

PHONE = "+8613800138000"


async def put(b: Backend, text: str, *, channel: str = "sms", **kwargs: object) -> OutboxMessage:
    return await outbox.enqueue(
        b, bot_id="county", channel=channel, address=PHONE, outbound=Outbound(text), **kwargs
    )


async def test_enqueue_encrypts_the_address_and_waits_for_a_worker(backend: Backend) -> None:
    menu = Outbound("请选择", choices=(Choice("petition", "投诉"), Choice("lookup", "查询")))
    row = await outbox.enqueue(backend, bot_id="county", channel="sms", address=PHONE, outbound=menu)

    assert row.id is not None
    assert row.address_enc != PHONE and PHONE not in row.address_enc
    assert backend.keyring.decrypt(row.address_enc) == PHONE
    assert (row.status, row.kind, row.attempts, row.inline) == ("pending", "reply", 0, False)
    assert row.next_attempt_at == backend.clock.now()
    assert row.sent_at is None
    # A reply may carry a query password or echo what the citizen typed: sealed at rest too.
    raw = await backend.session.execute(text("SELECT payload FROM outbox WHERE id = :id"), {"id": row.id})
    stored = str(raw.scalar_one())
    assert "请选择" not in stored and "投诉" not in stored and "\\u8bf7" not in stored
    assert outbox.outbound_of(backend, row.payload) == menu


async def test_inline_replies_are_recorded_as_sent_and_never_claimed(backend: Backend) -> None:
    row = await put(backend, "已收到", inline=True)
    assert (row.status, row.inline, row.next_attempt_at) == ("sent", True, None)
    assert row.sent_at == backend.clock.now()
    assert await outbox.claim(backend) == []


async def test_replies_for_returns_what_the_first_delivery_answered(backend: Backend) -> None:
    received = await inbox.receive(backend, Inbound("sms", "county", PHONE, "m1", "1"))
    other = await inbox.receive(backend, Inbound("sms", "county", PHONE, "m2", "2"))
    ids = {"conversation_id": received.conversation.id}
    await put(backend, "first", inbound_id=received.inbound_id, inline=True, **ids)
    await put(backend, "other", inbound_id=other.inbound_id, **ids)
    await put(backend, "second", inbound_id=received.inbound_id, inline=True, **ids)

    assert await outbox.replies_for(backend, received.inbound_id) == [Outbound("first"), Outbound("second")]


async def test_claim_takes_due_rows_oldest_first_and_leases_them(backend: Backend, clock: FixedClock) -> None:
    first = await put(backend, "one")
    second = await put(backend, "two")
    third = await put(backend, "three")

    claimed = await outbox.claim(backend, limit=2, lease=timedelta(seconds=60))

    assert [c.id for c in claimed] == [first.id, second.id]
    assert claimed[0].address == PHONE
    assert claimed[0].outbound == Outbound("one")
    assert (claimed[0].attempts, claimed[0].kind, claimed[0].channel) == (1, "reply", "sms")
    assert first.status == "sending" and first.lease_until == clock.now() + timedelta(seconds=60)
    assert third.status == "pending"
    assert [c.id for c in await outbox.claim(backend)] == [third.id]
    assert await outbox.claim(backend) == []  # everything is leased


async def test_a_crashed_workers_rows_are_claimed_again_after_the_lease(
    backend: Backend, clock: FixedClock
) -> None:
    row = await put(backend, "hello")
    await outbox.claim(backend, lease=timedelta(seconds=60))

    clock.advance(seconds=59)
    assert await outbox.claim(backend) == []  # the lease still holds

    clock.advance(seconds=2)
    again = await outbox.claim(backend)
    assert [c.id for c in again] == [row.id]
    assert again[0].attempts == 2


async def test_claim_skips_rows_not_yet_due_and_other_channels(backend: Backend, clock: FixedClock) -> None:
    sms = await put(backend, "sms")
    telegram = await put(backend, "tg", channel="telegram")
    later = await put(backend, "later")
    later.next_attempt_at = clock.now() + timedelta(minutes=1)

    assert [c.id for c in await outbox.claim(backend, channels=["telegram"])] == [telegram.id]
    assert [c.id for c in await outbox.claim(backend, channels={"sms"})] == [sms.id]
    clock.advance(minutes=1)
    assert [c.id for c in await outbox.claim(backend)] == [later.id]


async def test_backoff_grows_until_the_row_fails_for_good(backend: Backend, clock: FixedClock) -> None:
    policy = backend.policy
    row = await put(backend, "hello")
    delays: list[float] = []
    for attempt in range(1, policy.outbox_max_attempts + 1):
        claimed = await outbox.claim(backend)
        assert [c.attempts for c in claimed] == [attempt]
        await outbox.mark_failed(backend, row.id, f"timeout {attempt}", retry=True)
        if attempt == policy.outbox_max_attempts:
            break
        assert row.status == "pending" and row.lease_until is None
        assert row.next_attempt_at is not None
        delay = (row.next_attempt_at - clock.now()).total_seconds()
        nominal = min(policy.outbox_backoff_cap_seconds, policy.outbox_backoff_seconds * 2 ** (attempt - 1))
        assert nominal * 0.5 <= delay <= nominal
        delays.append(delay)
        assert await outbox.claim(backend) == []  # not before its time
        clock.set(row.next_attempt_at)

    assert delays[-1] > delays[0] * 8  # doubling, jitter notwithstanding
    assert (row.status, row.error, row.next_attempt_at) == ("failed", "timeout 8", None)
    clock.advance(days=1)
    assert await outbox.claim(backend) == []


async def test_backoff_is_capped(backend: Backend) -> None:
    cap = backend.policy.outbox_backoff_cap_seconds
    for _ in range(20):
        wait = outbox.backoff(backend, 30).total_seconds()
        assert cap * 0.5 <= wait <= cap


async def test_a_platform_asking_to_wait_is_waited_for(backend: Backend, clock: FixedClock) -> None:
    row = await put(backend, "hello")
    await outbox.claim(backend)
    await outbox.mark_failed(backend, row.id, "429 Too Many Requests", retry=True, retry_after=600)
    assert row.status == "pending"
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=600)
    clock.advance(seconds=599)
    assert await outbox.claim(backend) == []
    clock.advance(seconds=2)
    assert [c.id for c in await outbox.claim(backend)] == [row.id]


async def test_a_permanent_failure_is_undeliverable_at_once(backend: Backend) -> None:
    row = await put(backend, "hello")
    await outbox.claim(backend)
    await outbox.mark_failed(backend, row.id, "number does not exist", retry=False)
    assert (row.status, row.attempts, row.error) == ("undeliverable", 1, "number does not exist")


async def test_sent_then_delivery_callbacks(backend: Backend, clock: FixedClock) -> None:
    row = await put(backend, "hello")
    await outbox.claim(backend)
    clock.advance(seconds=1)
    await outbox.mark_sent(backend, row.id, provider_message_id="SM123")
    assert (row.status, row.provider_message_id, row.lease_until) == ("sent", "SM123", None)
    assert row.sent_at == clock.now()

    assert await outbox.mark_status(backend, "SM123", "delivered")
    assert row.status == "delivered"
    assert await outbox.mark_status(backend, "SM123", "sent")  # a late callback
    assert row.status == "delivered"
    assert not await outbox.mark_status(backend, "SM-unknown", "delivered")
    with pytest.raises(ValueError):
        await outbox.mark_status(backend, "SM123", "exploded")


async def test_a_failed_delivery_callback_keeps_the_error(backend: Backend) -> None:
    row = await put(backend, "hello")
    await outbox.claim(backend)
    await outbox.mark_sent(backend, row.id, provider_message_id="SM9")
    assert await outbox.mark_status(backend, "SM9", "undelivered", error="30003 unreachable")
    assert (row.status, row.error) == ("undelivered", "30003 unreachable")
    assert await outbox.claim(backend) == []


async def test_web_chat_polls_its_conversation_and_confirms(backend: Backend) -> None:
    received = await inbox.receive(backend, Inbound("webchat", "county", "browser-1", "w1", "人工"))
    conversation_id = received.conversation.id
    assert conversation_id is not None
    common = {"channel": "webchat", "conversation_id": conversation_id}
    reply = await put(backend, "正在转人工", inline=True, inbound_id=received.inbound_id, **common)
    staff = await put(backend, "您好，我是值班人员", kind="staff", **common)
    await put(backend, "unrelated")

    everything = await outbox.for_conversation(backend, conversation_id)
    assert [(i, o.text, s) for i, o, s in everything] == [
        (reply.id, "正在转人工", "sent"),
        (staff.id, "您好，我是值班人员", "pending"),
    ]
    assert [i for i, _, _ in await outbox.for_conversation(backend, conversation_id, kinds=["staff"])] == [
        staff.id
    ]
    assert await outbox.for_conversation(backend, conversation_id, after_id=staff.id) == []

    await outbox.mark_delivered(backend, [staff.id])
    assert staff.status == "delivered" and staff.sent_at == backend.clock.now()
    assert reply.status == "sent"
    assert await outbox.claim(backend, channels=["webchat"]) == []


async def test_inline_claim_takes_pending_rows_once(backend: Backend) -> None:
    first = await put(backend, "passive")
    second = await put(backend, "grabbed by the dispatcher")
    claimed = await outbox.claim(backend, limit=1)  # the oldest: `first`
    assert [c.id for c in claimed] == [first.id]

    taken = await outbox.claim_inline(backend, [first.id, second.id])

    assert taken == {second.id}
    assert (second.status, second.inline) == ("sent", True)
    assert first.status == "sending"
    assert await outbox.claim_inline(backend, [second.id]) == set()


async def test_inline_replies_for_a_replay_are_only_the_inline_ones(backend: Backend) -> None:
    received = await inbox.receive(
        backend, Inbound(channel="wechat", bot_id="county", sender="openid-1", message_id="m1", text="hi")
    )
    api = await put(backend, "by API", inbound_id=received.inbound_id)
    passive = await put(backend, "passive", inbound_id=received.inbound_id)
    await outbox.claim_inline(backend, [passive.id])
    assert api.status == "pending"
    assert await outbox.inline_replies_for(backend, received.inbound_id) == [Outbound("passive")]
