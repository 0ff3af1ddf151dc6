"""`sunshine handoff ...`: the desk queue from a terminal, for operators and for trying it without the desk.

A reply is only queued here; the dispatcher of the running service (or `sunshine worker`) sends it,
within its idle pause, since nothing can wake a dispatcher in another process.
"""

from __future__ import annotations

import asyncio
import getpass
import unicodedata
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select

from bots.bootstrap import build_services
from bots.cli_common import CommandError, ConfigOption, clear_errors, info, settings_from
from bots.imitation import capabilities_of
from bots.pipeline import Services
from bots.settings import Settings
from conversations import texts
from core import handoff
from core.handoff import HandoffClosedError, HandoffNotFoundError
from core.messages import Outbound
from storage.models import Conversation, Handoff

app = typer.Typer(help="Conversations waiting for a person (转人工).", no_args_is_help=True)

StaffOption = Annotated[str | None, typer.Option("--as", help="Staff name recorded in the audit trail.")]
_LAST_TEXT_WIDTH = 40


@app.command("list")
def list_command(config: ConfigOption = None) -> None:
    """Open handoffs, longest waiting first."""
    with clear_errors():
        settings = settings_from(config)
        rows = asyncio.run(_list(settings))
    if not rows:
        info("no open handoffs")
        return
    header = ("ID", "BOT", "CHANNEL", "STATUS", "WAITING SINCE", "LAST MESSAGE")
    typer.echo(_table([header, *rows]))


@app.command("reply")
def reply_command(
    handoff_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Argument(metavar="TEXT")],
    config: ConfigOption = None,
    staff: StaffOption = None,
) -> None:
    """Answer the citizen on the channel they wrote from."""
    with clear_errors():
        settings = settings_from(config)
        outbox_id = asyncio.run(_reply(settings, handoff_id, text, staff or _operator()))
    info(f"reply to handoff {handoff_id} queued (outbox {outbox_id}); the running service sends it shortly")


@app.command("close")
def close_command(
    handoff_id: Annotated[int, typer.Argument(metavar="ID")],
    config: ConfigOption = None,
    staff: StaffOption = None,
) -> None:
    """Give the conversation back to the bot; the citizen is told so."""
    with clear_errors():
        settings = settings_from(config)
        closed = asyncio.run(_close(settings, handoff_id, staff or _operator()))
    info(f"handoff {handoff_id} closed" if closed else f"handoff {handoff_id} was already closed")


def _services(settings: Settings) -> Services:
    return build_services(settings, dict(settings.bots))


async def _list(settings: Settings) -> list[tuple[str, ...]]:
    services = _services(settings)
    zone = ZoneInfo(settings.timezone)
    try:
        async with services.database.reading() as session:
            views = await handoff.list_open(services.backend(session))
    finally:
        await services.database.dispose()
    return [
        (
            str(view.id),
            view.bot_id,
            view.channel,
            view.status,
            _local(view.opened_at, zone),
            _clip(view.last_text or "", _LAST_TEXT_WIDTH),
        )
        for view in views
    ]


async def _reply(settings: Settings, handoff_id: int, text: str, staff: str) -> int:
    services = _services(settings)
    try:
        async with services.database.transaction() as session:
            row = await handoff.staff_reply(services.backend(session), handoff_id, staff=staff, text=text)
            row_id = row.id
    except HandoffNotFoundError:
        raise CommandError(f"no handoff {handoff_id}") from None
    except HandoffClosedError:
        raise CommandError(f"handoff {handoff_id} is closed; the bot answers that citizen again") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    finally:
        await services.database.dispose()
    assert row_id is not None
    return row_id


async def _close(settings: Settings, handoff_id: int, staff: str) -> bool:
    services = _services(settings)
    try:
        async with services.database.transaction() as session:
            b = services.backend(session)
            found = (
                await session.execute(
                    select(Handoff.status, Conversation.channel, Conversation.language, Conversation.bot_id)
                    .join(Conversation, Conversation.id == Handoff.conversation_id)
                    .where(Handoff.id == handoff_id)
                )
            ).first()
            if found is None:
                raise CommandError(f"no handoff {handoff_id}")
            status, channel, language, bot_id = found
            if status == "closed":
                return False
            notice = _closed_notice(settings, bot_id, channel, language)
            await handoff.close_handoff(b, handoff_id, staff=staff, notice=notice)
            return True
    finally:
        await services.database.dispose()


def _closed_notice(settings: Settings, bot_id: str, channel: str, language: str | None) -> Outbound:
    bot = settings.bots.get(bot_id)
    chosen = language or (bot.language if bot else texts.SOURCE_LANGUAGE)
    if chosen not in texts.LANGUAGES:
        chosen = texts.SOURCE_LANGUAGE
    capabilities = capabilities_of(channel, {})
    concise = capabilities.concise if capabilities else False
    return Outbound(text=texts.text(chosen, "handoff.closed", concise=concise))


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "operator"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    if _width(flat) <= width:
        return flat
    out = ""
    for ch in flat:
        if _width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
