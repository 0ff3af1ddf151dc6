"""The mailbox of channels whose client fetches its messages (web chat, the terminal chat).

For these channels the client's fetch *is* the delivery: a row is handed over whether or not a
dispatcher has already "sent" it (the channel's send only accepts it), and is marked delivered, which
no dispatcher claims again. A row a dispatcher is sending right now stops the run, because a client
advances its cursor to the last id it saw: handing out row 7 while row 6 is in flight would lose 6.
Polling is frequent, so the lookup runs without the write lock; only an actual handover writes.
"""

from __future__ import annotations

from sqlalchemy import select

from bots.pipeline import Services
from core import outbox
from core.inbox import address_hash
from core.messages import Outbound
from storage.models import Conversation

FETCHED_KINDS = ("staff", "notice", "survey")  # inline replies went back in the response already
_HANDED_OVER = frozenset({"pending", "sent", "delivered"})
_IN_FLIGHT = "sending"


class OutboxMailbox:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        async with self.services.database.reading() as session:
            b = self.services.backend(session)
            conversation_id = await session.scalar(
                select(Conversation.id).where(
                    Conversation.bot_id == bot_id,
                    Conversation.channel == channel,
                    Conversation.address_hash == address_hash(b, channel, address),
                )
            )
            if conversation_id is None:
                return []
            rows = await outbox.for_conversation(b, conversation_id, after_id=after_id, kinds=FETCHED_KINDS)
        ready: list[tuple[int, Outbound]] = []
        newly_delivered: list[int] = []
        for row_id, message, status in rows:
            if status == _IN_FLIGHT:
                break
            if status in _HANDED_OVER:
                ready.append((row_id, message))
                if status != "delivered":
                    newly_delivered.append(row_id)
        if newly_delivered:
            async with self.services.database.transaction() as session:
                await outbox.mark_delivered(self.services.backend(session), newly_delivered)
        return ready
