"""The first half of "one transaction per inbound message": log the message, lock the sender's conversation.

Locking the conversation row before looking for the message id is what makes a provider's retry
safe between processes: the retry waits until the first delivery has committed, then finds its
message and becomes a replay. On SQLite the database already admits one writer at a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm.attributes import flag_modified

from core.backend import Backend, dialect_insert
from core.crypto import Keyring
from core.messages import Inbound
from storage.models import Conversation, InboundMessage


@dataclass
class Received:
    inbound_id: int
    conversation: Conversation  # attached to the backend's session and locked until it commits
    replay: bool  # the platform sent this message before: answer as the first time, change nothing


async def receive(b: Backend, inbound: Inbound) -> Received:
    """Record one inbound message, or recognise it as a retry of one already handled."""
    now = b.clock.now()
    conversation = await _locked_conversation(b, inbound)
    received_at = inbound.received_at or now
    # One statement both records the message and recognises a retry: the unique key on the provider's
    # message id turns a second delivery into "nothing inserted", with no error to recover from and so
    # no savepoint (a retry can even race the first delivery, were a channel ever to hand the same
    # message id under two sender addresses). It saves a lookup and a savepoint on every message.
    values = {
        "bot_id": inbound.bot_id,
        "channel": inbound.channel,
        "provider_message_id": message_key(b, inbound.message_id),
        "conversation_id": _id(conversation),
        "text": inbound.text,
        "attachments": [a.to_json() for a in inbound.attachments],
        "received_at": received_at,
    }
    inserted = (await b.session.execute(_log_message(b.dialect), values)).scalar_one_or_none()
    if inserted is None:
        earlier = await _find_inbound(b, inbound)
        if earlier is None:
            raise RuntimeError("an inbound message conflicted with one that cannot be found")
        return Received(inbound_id=earlier, conversation=conversation, replay=True)

    last = conversation.last_inbound_at
    conversation.last_inbound_at = received_at if last is None else max(last, received_at)
    conversation.updated_at = now
    return Received(inbound_id=inserted, conversation=conversation, replay=False)


def address_of(b: Backend, conversation: Conversation) -> str:
    """The citizen's channel address, for the rare step that must send somewhere outside this reply."""
    return b.keyring.decrypt(conversation.address_enc)


async def save_state(
    b: Backend, conversation: Conversation, state: dict[str, Any], language: str | None
) -> None:
    """Store the dialog state the engine decided on.

    A JSON column only notices assignment, and comparing a dict mutated in place with itself finds no
    change; so the state is copied into a new dict and flagged modified explicitly. A `language` of
    None keeps the one already stored rather than forgetting the citizen's choice.
    """
    conversation.state = _copy_json(state)
    flag_modified(conversation, "state")
    if language is not None:
        conversation.language = language
    conversation.updated_at = b.clock.now()


def message_key(b: Backend | Keyring, message_id: str) -> str:
    """What the inbound log keeps of a platform's message id: a keyed hash, since some ids hold the
    sender's address (a WeChat event's id is made of the openid, a web chat's of the session id).
    The same id always gives the same key, so a retry is still recognised."""
    keyring = b if isinstance(b, Keyring) else b.keyring
    return keyring.lookup_hash("inbound-message", message_id)


def address_hash(b: Backend, channel: str, address: str) -> str:
    """The keyed hash that finds a citizen's conversation and surveys without storing the address."""
    return b.keyring.lookup_hash("address", f"{channel}:{address}")


@functools.cache
def _log_message(dialect: str) -> Any:
    """The inbound log's insert, built once per database kind: building it for every message (values,
    ON CONFLICT, RETURNING) cost more CPU than SQLite took to run it."""
    table = InboundMessage.__table__
    return (
        dialect_insert(dialect, table)
        .on_conflict_do_nothing(index_elements=["bot_id", "channel", "provider_message_id"])
        .returning(table.c.id)
    )


# The sender's conversation, locked; built once for the same reason as the insert above.
_CONVERSATION = (
    select(Conversation)
    .where(
        Conversation.bot_id == bindparam("bot_id"),
        Conversation.channel == bindparam("channel"),
        Conversation.address_hash == bindparam("address_hash"),
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def _locked_conversation(b: Backend, inbound: Inbound) -> Conversation:
    key = address_hash(b, inbound.channel, inbound.sender)
    whose = {"bot_id": inbound.bot_id, "channel": inbound.channel, "address_hash": key}
    found = (await b.session.scalars(_CONVERSATION, whose)).first()
    if found is not None:
        return found
    now = b.clock.now()
    values = {
        "bot_id": inbound.bot_id,
        "channel": inbound.channel,
        "address_hash": key,
        "address_enc": b.keyring.encrypt(inbound.sender),
        "state": {},
        "mode": "bot",
        "created_at": now,
        "updated_at": now,
    }
    # A new sender's first message can reach two processes at once (a platform's retry sent to another
    # web process). ON CONFLICT DO NOTHING makes the loser's insert wait for the winner's commit and then
    # insert nothing, with no error to recover from; both then lock the one row, the loser after the
    # winner is done with it, and the loser sees the winner's message as a replay.
    statement = b.insert(Conversation).values(**values)
    await b.session.execute(
        statement.on_conflict_do_nothing(index_elements=["bot_id", "channel", "address_hash"])
    )
    found = (await b.session.scalars(_CONVERSATION, whose)).first()
    if found is None:
        raise RuntimeError("the conversation row vanished between its insert and its lock")
    return found


async def _find_inbound(b: Backend, inbound: Inbound) -> int | None:
    query = select(InboundMessage.id).where(
        InboundMessage.bot_id == inbound.bot_id,
        InboundMessage.channel == inbound.channel,
        InboundMessage.provider_message_id == message_key(b, inbound.message_id),
    )
    return (await b.session.scalars(query)).first()


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy_json(item) for item in value]
    return value


def _id(row: Conversation | InboundMessage) -> int:
    if row.id is None:
        raise RuntimeError("row has no id; it was not flushed")
    return row.id
