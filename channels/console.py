"""The terminal as a channel: try every conversation without any account, or replay a transcript.

Interactive on a TTY (a prompt, staff replies printed as they arrive); otherwise one citizen message
per input line and only the bot's replies on stdout, so a transcript can be piped through it and
compared. Buttons, where the imitated channel has them, are shown numbered and answered by number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from aiohttp import web

from channels.base import ChannelContext, Delivery, InboundHandler, Mailbox
from core.messages import Capabilities, Choice, Inbound, Outbound, render_text

PROMPT = "> "

log = logging.getLogger(__name__)


class ConsoleChannel:
    name = "console"
    capabilities = Capabilities(max_length=4096, buttons=False)

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        return []

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        # The terminal fetches its messages from the mailbox; accepting them is all sending means here.
        return Delivery(ok=True)


@dataclass
class Terminal:
    """One citizen at a terminal: who they are and what the replies should look like."""

    handle: InboundHandler
    mailbox: Mailbox
    bot_id: str
    channel: str
    address: str
    capabilities: Capabilities
    stdin: TextIO
    stdout: TextIO
    interactive: bool
    poll_seconds: float = 1.0
    _choices: Sequence[Choice] = field(default=(), init=False)  # the buttons a number would press
    # Staff replies from the start: those that arrived while no terminal was open are shown first.
    _after: int = field(default=0, init=False)

    async def run(self) -> None:
        lines = _read_lines(self.stdin)
        poller = asyncio.create_task(self._poll()) if self.interactive else None
        try:
            while True:
                self._prompt()
                line = await lines.get()
                if line is None:
                    break
                text = line.strip()
                if not text:
                    continue
                for reply in await self.handle(self._inbound(text)):
                    self._show(reply)
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            if self.interactive:
                self.stdout.write("\n")
                self.stdout.flush()

    def _inbound(self, text: str) -> Inbound:
        choice = self._pressed(text)
        return Inbound(
            channel=self.channel,
            bot_id=self.bot_id,
            sender=self.address,
            message_id=f"console:{uuid.uuid4()}",
            text=choice.label if choice else text,
            choice=choice.key if choice else None,
        )

    def _pressed(self, text: str) -> Choice | None:
        """On a channel with buttons, typing a shown button's number presses it."""
        if not self.capabilities.buttons or not self._choices:
            return None
        number = unicodedata.normalize("NFKC", text)
        if number.isascii() and number.isdigit() and 1 <= int(number) <= len(self._choices):
            return self._choices[int(number) - 1]
        return None

    def _show(self, message: Outbound) -> None:
        text = render_text(message, self.capabilities)
        if self.capabilities.buttons and message.choices:
            buttons = "\n".join(f"[{i}] {c.label}" for i, c in enumerate(message.choices, start=1))
            text = f"{text}\n{buttons}"
        self._choices = message.choices if self.capabilities.buttons else ()
        self.stdout.write(text + ("\n\n" if self.interactive else "\n"))
        self.stdout.flush()

    def _prompt(self) -> None:
        if self.interactive:
            self.stdout.write(PROMPT)
            self.stdout.flush()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                fetched = await self.mailbox.fetch(self.bot_id, self.channel, self.address, self._after)
            except Exception as exc:  # a busy or restarting database: the next poll tries again
                log.debug("polling for staff replies failed: %s", type(exc).__name__)
                continue
            if not fetched:
                continue
            self.stdout.write("\r")
            for row_id, message in fetched:
                self._after = row_id
                self._show(message)
            self._prompt()


def _read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines from a blocking stream, fed in by a daemon thread; None at end of input.

    A daemon thread, because a read blocked on a terminal cannot be cancelled and must not keep the
    process alive after the citizen pressed Ctrl-C.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError):
            pass  # the stream was closed under us
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="console-input", daemon=True).start()
    return queue
