"""One inbound message, end to end: one transaction that logs it, steps the conversation and queues replies.

Messages from one sender are handled strictly one at a time, in arrival order: a per-conversation lock
inside the process, and the conversation row lock (`SELECT ... FOR UPDATE` in `core.inbox`) between
processes on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from conversations import engine
from conversations.engine import BotProfile, StepContext
from conversations.understand.secrets import without_secrets
from core import inbox, outbox, query_passwords
from core.backend import Backend
from core.cases import Contact
from core.clock import Clock
from core.crypto import Keyring
from core.messages import Capabilities, Inbound, Outbound
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database

log = logging.getLogger(__name__)


class UnknownBot(LookupError):
    """A message for a bot this deployment does not run."""


@dataclass
class Services:
    """The long-lived pieces every unit of work is built from; made once by the bootstrap."""

    database: Database
    keyring: Keyring
    clock: Clock
    policy: Policy
    calendar: WorkCalendar
    profiles: Mapping[str, BotProfile]

    def backend(self, session) -> Backend:  # type: ignore[no-untyped-def]
        return Backend(session=session, keyring=self.keyring, clock=self.clock, policy=self.policy,
                       calendar=self.calendar)


class Pipeline:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._outliving: set[asyncio.Future[_Result]] = set()  # steps whose webhook already answered
        self._refills: set[asyncio.Future[None]] = set()  # query passwords being hashed ahead

    def _lock(self, inbound: Inbound) -> asyncio.Lock:
        key = (inbound.bot_id, inbound.channel, inbound.sender)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def handle(self, inbound: Inbound, capabilities: Capabilities, *, inline: bool) -> list[Outbound]:
        """Process one message; `inline` says the replies go back in the platform's response."""
        return (await self._process(inbound, capabilities, inline=inline)).replies

    async def handle_within(
        self,
        inbound: Inbound,
        capabilities: Capabilities,
        budget: float,
        *,
        inline_if: Callable[[list[Outbound]], bool] | None = None,
    ) -> list[Outbound] | None:
        """For platforms that wait only so long: the replies if ready within `budget` seconds, else None.

        The replies are queued as pending in the message's own transaction; when the step is done in time
        they are taken for the response (as sent), otherwise the outbox dispatcher sends them through the
        platform's API once the step finishes. Either way each reply goes out exactly once. `inline_if`
        lets the channel leave replies that would not fit its response (too long, too many) to the outbox.

        Past the budget this still returns only once the message is committed: the channel's 2xx tells
        the platform never to send it again, so a process killed before the commit must not have given
        one (the crash drill, tests/drills/crash.py, lost acknowledged WeChat messages that way). A
        commit slower than the platform's wait costs a retry, which the inbox recognises as a replay.
        """
        task = asyncio.ensure_future(self._process(inbound, capabilities, inline=False))
        self._outliving.add(task)
        task.add_done_callback(self._outliving.discard)
        try:
            result = await asyncio.wait_for(asyncio.shield(task), budget)
        except TimeoutError:
            await asyncio.shield(task)  # shielded: a request cut off still leaves the step to finish
            return None
        async with self.services.database.transaction() as session:
            b = self.services.backend(session)
            if result.replay:
                return await outbox.inline_replies_for(b, result.inbound_id) or None
            if inline_if is not None and not inline_if(result.replies):
                return None
            taken = await outbox.claim_inline(b, result.outbox_ids)
        replies = [r for i, r in zip(result.outbox_ids, result.replies, strict=True) if i in taken]
        return replies or None

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for steps still running after their webhook answered, before the database closes.

        The platform was told the message arrived and will not send it again, so a process stopping
        (a rolling restart) must finish those steps rather than drop them.
        """
        pending = self._outliving | self._refills
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def _process(self, inbound: Inbound, capabilities: Capabilities, *, inline: bool) -> _Result:
        result = await self._step(inbound, capabilities, inline=inline)
        stock = query_passwords.stock_for(self.services.keyring)
        if stock.taken:
            # A submission took a pre-hashed query password: hash the next one now that the write lock
            # is free, so no other citizen waits for it (see core.query_passwords), and after the
            # answer, so neither does this one: waiting for it added a hash, 35 ms, to every submission.
            refill = asyncio.ensure_future(stock.refill_after_use())
            self._refills.add(refill)
            refill.add_done_callback(self._refilled)
        return result

    def _refilled(self, refill: asyncio.Future[None]) -> None:
        self._refills.discard(refill)
        if not refill.cancelled() and refill.exception() is not None:
            # Nothing is lost: the next submission hashes its own password, as the first one does.
            log.warning("hashing a query password ahead failed", exc_info=refill.exception())

    async def _step(self, inbound: Inbound, capabilities: Capabilities, *, inline: bool) -> _Result:
        profile = self.services.profiles.get(inbound.bot_id)
        if profile is None:
            raise UnknownBot(inbound.bot_id)
        async with self._lock(inbound), self.services.database.transaction() as session:
            b = self.services.backend(session)
            # The stored copy loses typed passwords and ID numbers; the step gets the message as typed.
            received = await inbox.receive(b, replace(inbound, text=without_secrets(inbound.text)))
            if received.replay:
                replies = await outbox.replies_for(b, received.inbound_id)
                return _Result(received.inbound_id, replies, [], replay=True)
            conversation = received.conversation
            context = StepContext(
                backend=b,
                profile=profile,
                capabilities=capabilities,
                conversation=conversation,
                contact=Contact(inbound.channel, inbound.sender, conversation.id),
                sender_key=b.keyring.lookup_hash("sender", f"{inbound.channel}:{inbound.sender}"),
            )
            turn = await engine.step(dict(conversation.state), inbound, context)
            await inbox.save_state(b, conversation, turn.state, turn.language)
            outbox_ids = []
            for reply in turn.replies:
                row = await outbox.enqueue(
                    b,
                    bot_id=inbound.bot_id,
                    channel=inbound.channel,
                    address=inbound.sender,
                    outbound=reply,
                    conversation_id=conversation.id,
                    inbound_id=received.inbound_id,
                    inline=inline,
                )
                outbox_ids.append(row.id)
            return _Result(received.inbound_id, turn.replies, outbox_ids, replay=False)


@dataclass
class _Result:
    inbound_id: int
    replies: list[Outbound]
    outbox_ids: list[int]
    replay: bool
