"""The outbox dispatcher: sends what the outbox owes citizens, outside any transaction.

Claiming commits at once (other workers then skip those rows), sending happens with no transaction
open (a slow platform must not hold the database), and results are marked by group commit: the ones
that finish while a commit is under way go together in the next, so a crash loses only the marks of
the sends answered in the last commit's few milliseconds (those rows go again when their lease ends),
and a busy outbox does not pay one commit per message. Rows for one address go out in order;
different addresses are sent concurrently.

A bot channel with a `send_rate_per_second` (`core.send_rate`) is claimed no faster than its cap
allows, counted over every dispatcher on the database: each claimed row comes with the moment its send
may start, up to a second ahead, and waits for it, so a full queue drains at the cap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from bots.pipeline import Services
from channels.base import Channel, Delivery
from core import optout, outbox, send_rate
from core.outbox import Claimed
from core.send_rate import SendRates

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
        send_rates: SendRates | None = None,
        lanes: int = 4,
    ) -> None:
        self.services = services
        self.senders = dict(senders)  # channel name → the channel that delivers its rows
        self.send_rates = dict(send_rates or {})  # (channel, bot id) → messages per second at most
        self.batch = batch
        self.lanes = lanes
        self.lease = lease or timedelta(seconds=services.policy.outbox_lease_seconds)
        self.idle_seconds = idle_seconds
        # A send that outlives its lease would be claimed and sent again by another worker.
        self.send_timeout = self.lease.total_seconds() / 2
        self._wake = asyncio.Event()
        self._marks = _GroupCommit(services)
        self._room_at: datetime | None = None  # when a capped bot channel with rows waiting has room

    def wake(self) -> None:
        """Look at the outbox now instead of after the idle pause (e.g. a staff reply was just queued)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Dispatch until `stop` is set or the task is cancelled; database trouble only delays it.

        Several lanes claim and send batches side by side, as several workers would (claims are safe
        against each other): a batch ends only when its slowest send is answered, and with one lane
        the provider sat idle through that tail and through every claim.
        """
        stop = stop or asyncio.Event()
        await asyncio.gather(*(self._lane(stop) for _ in range(self.lanes)))

    async def _lane(self, stop: asyncio.Event) -> None:
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
            batch = await outbox.claim_batch(
                self.services.backend(session),
                limit=self.batch,
                lease=self.lease,
                channels=list(self.senders),
                rates=self.send_rates,
            )
        claimed, self._room_at = batch.rows, batch.room_at
        if not claimed:
            return 0
        opted_out = await self._opted_out(claimed)
        queues: dict[tuple[str, str], list[Claimed]] = {}
        for row in claimed:
            queues.setdefault((row.channel, row.address), []).append(row)
        await asyncio.gather(*(self._send_in_order(rows, claimed_at, opted_out) for rows in queues.values()))
        return len(claimed)

    async def _send_in_order(self, rows: list[Claimed], claimed_at: float, opted_out: set[int]) -> None:
        for row in rows:
            await self._not_before(row)
            if not await self._still_held(row, claimed_at):
                continue
            if row.id in opted_out:
                await self._marks.record(row, _OPTED_OUT)
                continue
            delivery = await self._send(row)
            await self._marks.record(row, delivery, answered_at=self.services.clock.now())

    async def _not_before(self, row: Claimed) -> None:
        """Wait for the moment the bot channel's send rate lets this row go (at most a second)."""
        if row.not_before is not None:
            wait = (row.not_before - self.services.clock.now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, send_rate.WINDOW.total_seconds()))

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

    async def _opted_out(self, rows: list[Claimed]) -> set[int]:
        """The rows not to send: a citizen who said STOP gets no staff messages, notices or surveys;
        answers to their own messages still go (those are replies, sent inline on SMS). One read for
        the batch, not a transaction per row."""
        unsolicited = [row for row in rows if row.kind != "reply"]
        if not unsolicited:
            return set()
        recipients = {row.id: (row.bot_id, row.channel, row.address) for row in unsolicited}
        async with self.services.database.reading() as session:
            stopped = await optout.opted_out_among(self.services.backend(session), recipients.values())
        return {row_id for row_id, recipient in recipients.items() if recipient in stopped}

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

    def _pause_seconds(self) -> float:
        """The idle pause, or less when a capped bot channel has rows waiting for room: the claim may
        come a horizon early (its rows then wait for their start)."""
        if self._room_at is None:
            return self.idle_seconds
        until = (self._room_at - send_rate.HORIZON - self.services.clock.now()).total_seconds()
        return min(self.idle_seconds, max(until, 0.005))

    async def _pause(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=self._pause_seconds(), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()


_OPTED_OUT = Delivery(ok=False, error="opted out", retry=False)


class _GroupCommit:
    """Marks send results: whoever finds no commit under way commits everything waiting, again and
    again until nothing is; the others wait for the commit that holds their row. Under load one commit
    carries many rows; alone, a row is committed at once, as before."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._waiting: list[tuple[Claimed, Delivery, datetime | None, asyncio.Future[None]]] = []
        self._committing = False

    async def record(
        self, row: Claimed, delivery: Delivery, *, answered_at: datetime | None = None
    ) -> None:
        """Return once the result of `row` is committed (or raise what the commit raised).
        `answered_at` is when the platform answered; None for a row that was not sent at all."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, delivery, answered_at, done))
        if not self._committing:
            self._committing = True
            try:
                while self._waiting:
                    batch, self._waiting = self._waiting, []
                    await self._commit(batch)
            except BaseException:
                if done.done() and not done.cancelled():
                    done.exception()  # raised right here; not "never retrieved"
                raise
            finally:
                self._committing = False
                self._fail_waiting()
        await done

    async def _commit(
        self, batch: list[tuple[Claimed, Delivery, datetime | None, asyncio.Future[None]]]
    ) -> None:
        try:
            async with self.services.database.transaction() as session:
                b = self.services.backend(session)
                ok = [(row, delivery, at) for row, delivery, at, _ in batch if delivery.ok]
                await outbox.mark_sent_many(
                    b,
                    {row.id: delivery.provider_message_id for row, delivery, _ in ok},
                    answered_at={row.id: at for row, _, at in ok},
                )
                for row, delivery, answered_at, _ in batch:
                    if not delivery.ok:
                        await outbox.mark_failed(
                            b,
                            row.id,
                            delivery.error or "not delivered",
                            retry=delivery.retry,
                            retry_after=delivery.retry_after,
                            attempted=answered_at is not None,
                            answered_at=answered_at,
                        )
        except BaseException as exc:
            for *_, done in batch:
                if done.done():
                    continue
                if isinstance(exc, Exception):
                    done.set_exception(exc)
                else:
                    done.cancel()
            raise
        for *_, done in batch:
            if not done.done():
                done.set_result(None)

    def _fail_waiting(self) -> None:
        """The committer stopped (cancelled, or its commit failed): the rows still waiting are not
        committed, so their senders must not wait for it; their rows go again when the lease ends."""
        waiting, self._waiting = self._waiting, []
        for *_, done in waiting:
            if not done.done():
                done.set_exception(RuntimeError("the result was not recorded: the commit before it failed"))
