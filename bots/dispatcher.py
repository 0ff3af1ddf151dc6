"""The outbox dispatcher: sends what the outbox owes citizens, outside any transaction.

Claiming commits at once (other workers then skip those rows), sending happens with no transaction
open (a slow platform must not hold the database), and each result is marked in its own short
transaction so a crash loses at most the mark of one message. Rows for one address go out in order;
different addresses are sent concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

from bots.pipeline import Services
from channels.base import Channel, Delivery
from core import optout, outbox
from core.outbox import Claimed

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        services: Services,
        senders: Mapping[str, Channel],
        *,
        batch: int = 50,
        lease: timedelta | None = None,
        idle_seconds: float = 1.0,
    ) -> None:
        self.services = services
        self.senders = dict(senders)  # channel name → the channel that delivers its rows
        self.batch = batch
        self.lease = lease or timedelta(seconds=services.policy.outbox_lease_seconds)
        self.idle_seconds = idle_seconds
        # A send that outlives its lease would be claimed and sent again by another worker.
        self.send_timeout = self.lease.total_seconds() / 2
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now instead of after the idle pause (e.g. a staff reply was just queued)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Dispatch until `stop` is set or the task is cancelled; database trouble only delays it."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep dispatching after a database hiccup; the rows wait
                log.error("outbox dispatch failed: %s", type(exc).__name__)
                sent = 0
            if sent:
                continue
            await self._pause(stop)

    async def run_once(self) -> int:
        """Claim one batch of due rows, send them and mark them; the number of rows handled."""
        if not self.senders:
            return 0
        claimed_at = asyncio.get_running_loop().time()  # no later than the lease's start
        async with self.services.database.transaction() as session:
            claimed = await outbox.claim(
                self.services.backend(session),
                limit=self.batch,
                lease=self.lease,
                channels=list(self.senders),
            )
        if not claimed:
            return 0
        queues: dict[tuple[str, str], list[Claimed]] = {}
        for row in claimed:
            queues.setdefault((row.channel, row.address), []).append(row)
        await asyncio.gather(*(self._send_in_order(rows, claimed_at) for rows in queues.values()))
        return len(claimed)

    async def _send_in_order(self, rows: list[Claimed], claimed_at: float) -> None:
        for row in rows:
            if not await self._still_held(row, claimed_at):
                continue
            if row.kind != "reply" and await self._opted_out(row):
                continue
            delivery = await self._send(row)
            async with self.services.database.transaction() as session:
                b = self.services.backend(session)
                if delivery.ok:
                    await outbox.mark_sent(b, row.id, provider_message_id=delivery.provider_message_id)
                else:
                    await outbox.mark_failed(
                        b,
                        row.id,
                        delivery.error or "not delivered",
                        retry=delivery.retry,
                        retry_after=delivery.retry_after,
                    )

    async def _still_held(self, row: Claimed, claimed_at: float) -> bool:
        """Whether this worker may send `row` now without another worker sending it too.

        Rows of one address go one after another, so a row late in a batch can be reached when its lease
        has too little left for a send (or has run out and another worker holds it). Early in the lease
        nothing needs checking; after that the lease is renewed, fenced by the claim's attempt count.
        """
        elapsed = asyncio.get_running_loop().time() - claimed_at
        if elapsed + self.send_timeout < self.lease.total_seconds() * 0.75:
            return True
        async with self.services.database.transaction() as session:
            held = await outbox.renew(self.services.backend(session), row, self.lease)
        if not held:
            log.warning("outbox %s: lease lost before sending; left to the worker that holds it", row.id)
        return held

    async def _opted_out(self, row: Claimed) -> bool:
        """A citizen who said STOP gets no staff messages, notices or surveys; answers to their own
        messages still go (those are replies, sent inline on SMS)."""
        async with self.services.database.transaction() as session:
            b = self.services.backend(session)
            if not await optout.is_opted_out(b, row.bot_id, row.channel, row.address):
                return False
            await outbox.mark_failed(b, row.id, "opted out", retry=False)
            return True

    async def _send(self, row: Claimed) -> Delivery:
        channel = self.senders[row.channel]
        try:
            async with asyncio.timeout(self.send_timeout):
                return await channel.send(row.bot_id, row.address, row.outbound)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            log.warning("outbox %s via %s: send timed out; will retry", row.id, row.channel)
            return Delivery(ok=False, error="timeout", retry=True)
        except Exception as exc:
            # Only the exception's type: its message may quote the address or the text.
            log.warning(
                "outbox %s via %s: send raised %s; will retry", row.id, row.channel, type(exc).__name__
            )
            return Delivery(ok=False, error=f"exception: {type(exc).__name__}", retry=True)

    async def _pause(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.idle_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()
