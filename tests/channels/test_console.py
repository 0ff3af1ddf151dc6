"""The terminal chat with piped input: one message per line, replies as the imitated channel shows them."""

from __future__ import annotations

import io
import uuid

from channels.base import ChannelContext
from channels.console import ConsoleChannel, Terminal
from core.messages import Capabilities, Choice, Inbound, Outbound

SMS = Capabilities(max_length=1600, buttons=False, concise=True)
BUTTONS = Capabilities(max_length=4096, buttons=True)


class NoMail:
    async def fetch(
        self, bot_id: str, channel: str, address: str, after_id: int
    ) -> list[tuple[int, Outbound]]:
        return []


class Echo:
    def __init__(self) -> None:
        self.inbound: list[Inbound] = []

    async def __call__(self, inbound: Inbound) -> list[Outbound]:
        self.inbound.append(inbound)
        return [Outbound(f"收到：{inbound.text}", (Choice("a", "查询"), Choice("b", "投诉")))]


async def run(lines: str, capabilities: Capabilities) -> tuple[str, Echo]:
    echo = Echo()
    out = io.StringIO()
    terminal = Terminal(
        handle=echo,
        mailbox=NoMail(),
        bot_id="county",
        channel="sms",
        address="+8613800138000",
        capabilities=capabilities,
        stdin=io.StringIO(lines),
        stdout=out,
        interactive=False,
    )
    await terminal.run()
    return out.getvalue(), echo


async def test_each_line_is_one_message_and_empty_lines_are_skipped() -> None:
    output, echo = await run("  你好 \n\n   \n２\n", SMS)

    assert output == "收到：你好\n1 查询 2 投诉\n收到：２\n1 查询 2 投诉\n"
    assert [m.text for m in echo.inbound] == ["你好", "２"]
    assert all((m.channel, m.bot_id, m.sender) == ("sms", "county", "+8613800138000") for m in echo.inbound)
    assert all(m.choice is None for m in echo.inbound)
    ids = [m.message_id for m in echo.inbound]
    assert len(set(ids)) == 2
    assert all(uuid.UUID(i.removeprefix("console:")) for i in ids)


async def test_on_a_channel_with_buttons_a_number_presses_the_shown_button() -> None:
    output, echo = await run("你好\n２\n9\n", BUTTONS)

    assert output.splitlines()[:3] == ["收到：你好", "[1] 查询", "[2] 投诉"]
    pressed, beyond = echo.inbound[1], echo.inbound[2]
    assert (pressed.text, pressed.choice) == ("投诉", "b")
    assert (beyond.text, beyond.choice) == ("9", None)


async def test_console_sending_leaves_the_message_for_the_terminal() -> None:
    channel = ConsoleChannel()
    assert channel.routes(ChannelContext(bot_ids=("county",), handle=Echo(), mailbox=NoMail())) == []
    assert (await channel.send("county", "x", Outbound("hi"))).ok
