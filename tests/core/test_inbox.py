from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import inbox
from core.backend import Backend
from core.clock import FixedClock
from core.crypto import Keyring
from core.messages import Attachment, Inbound
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database
from storage.models import Conversation, InboundMessage

PHONE = "+8613800138000"


def message(
    message_id: str,
    text: str = "你好",
    *,
    sender: str = PHONE,
    channel: str = "sms",
    bot_id: str = "county",
    **kwargs: Any,
) -> Inbound:
    return Inbound(channel, bot_id, sender, message_id, text, **kwargs)


async def count(b: Backend, model: type) -> int:
    return (await b.session.scalar(select(func.count()).select_from(model))) or 0


async def test_first_message_creates_conversation_with_address_encrypted(backend: Backend) -> None:
    received = await inbox.receive(backend, message("m1", attachments=(Attachment("image", url="x"),)))

    conversation = received.conversation
    assert not received.replay
    assert conversation.id is not None
    assert conversation.address_enc != PHONE and PHONE not in conversation.address_enc
    assert conversation.address_hash == backend.keyring.lookup_hash("address", f"sms:{PHONE}")
    assert inbox.address_of(backend, conversation) == PHONE
    assert conversation.mode == "bot" and conversation.state == {}
    assert conversation.last_inbound_at == backend.clock.now()

    row = await backend.session.get(InboundMessage, received.inbound_id)
    assert row is not None
    assert (row.text, row.conversation_id) == ("你好", conversation.id)
    assert row.provider_message_id == backend.keyring.lookup_hash("inbound-message", "m1")
    assert row.attachments == [{"kind": "image", "url": "x"}]
    assert row.received_at == backend.clock.now()


async def test_later_messages_reuse_the_conversation(backend: Backend, clock: FixedClock) -> None:
    first = await inbox.receive(backend, message("m1"))
    clock.advance(minutes=5)
    sent_at = clock.now() - timedelta(seconds=2)
    second = await inbox.receive(backend, message("m2", received_at=sent_at))

    assert second.conversation is first.conversation
    assert second.inbound_id != first.inbound_id
    assert second.conversation.last_inbound_at == sent_at
    assert await count(backend, Conversation) == 1
    stored = await backend.session.get(InboundMessage, second.inbound_id)
    assert stored is not None and stored.received_at == sent_at


async def test_a_provider_retry_is_a_replay_that_writes_nothing(backend: Backend, clock: FixedClock) -> None:
    first = await inbox.receive(backend, message("m1"))
    clock.advance(seconds=30)
    retry = await inbox.receive(backend, message("m1", "different text the provider should not send"))

    assert retry.replay
    assert retry.inbound_id == first.inbound_id
    assert retry.conversation.last_inbound_at == first.conversation.last_inbound_at
    assert await count(backend, InboundMessage) == 1
    row = await backend.session.get(InboundMessage, first.inbound_id)
    assert row is not None and row.text == "你好"


async def test_message_ids_are_unique_per_bot_and_channel_only(backend: Backend) -> None:
    await inbox.receive(backend, message("m1"))
    other_bot = await inbox.receive(backend, message("m1", bot_id="town"))
    other_channel = await inbox.receive(backend, message("m1", channel="telegram", sender="42"))

    assert not other_bot.replay and not other_channel.replay
    assert await count(backend, InboundMessage) == 3
    assert await count(backend, Conversation) == 3


async def test_senders_get_separate_conversations(backend: Backend) -> None:
    a = await inbox.receive(backend, message("m1"))
    b = await inbox.receive(backend, message("m2", sender="+8613900139000"))
    assert a.conversation.id != b.conversation.id


async def test_state_mutated_in_place_is_saved(
    database: Database, keyring: Keyring, clock: FixedClock, policy: Policy, calendar: WorkCalendar
) -> None:
    def backend_for(session: AsyncSession) -> Backend:
        return Backend(session=session, keyring=keyring, clock=clock, policy=policy, calendar=calendar)

    async with database.transaction() as session:
        b = backend_for(session)
        received = await inbox.receive(b, message("m1"))
        await inbox.save_state(b, received.conversation, {"flow": "petition", "parts": ["a"]}, "zh_Hans")

    clock.advance(minutes=1)
    async with database.transaction() as session:
        b = backend_for(session)
        received = await inbox.receive(b, message("m2"))
        state = received.conversation.state
        state["parts"].append("b")  # the engine may hand back the very dict it was given, mutated
        await inbox.save_state(b, received.conversation, state, None)

    async with database.reading() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        assert conversation.state == {"flow": "petition", "parts": ["a", "b"]}
        assert conversation.language == "zh_Hans"  # None kept the citizen's language
        assert conversation.updated_at == clock.now()


async def test_saved_state_is_a_copy(backend: Backend) -> None:
    received = await inbox.receive(backend, message("m1"))
    state = {"step": {"n": 1}}
    await inbox.save_state(backend, received.conversation, state, "en")
    state["step"]["n"] = 2
    assert received.conversation.state == {"step": {"n": 1}}
    assert received.conversation.language == "en"


async def test_a_message_id_seen_under_another_sender_becomes_a_replay(backend: Backend) -> None:
    """The insert itself recognises the duplicate (ON CONFLICT), so no error spoils the transaction."""
    first = await inbox.receive(backend, message("m1"))
    retry = await inbox.receive(backend, message("m1", sender="+8613900139000"))

    assert retry.replay and retry.inbound_id == first.inbound_id
    assert await count(backend, InboundMessage) == 1
    assert not (await inbox.receive(backend, message("m2"))).replay  # the transaction is still usable
    assert await count(backend, InboundMessage) == 2
