"""`sunshine telegram ...`: long polling while developing (no public address needed), and registering
the webhook for production.

Polled updates go through the same reading as webhook ones; their replies are queued in the outbox
and sent by the dispatcher running alongside, so a reply is never lost between handling an update and
confirming it to Telegram, and never sent twice when an unconfirmed update comes again (the pipeline
recognises the replay). Ctrl-C lets the update in hand finish, then stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bots.bootstrap import Deployment, bootstrap
from bots.cli_common import (
    CommandError,
    ConfigOption,
    DemoOption,
    clear_errors,
    info,
    settings_from,
    setup_logging,
)
from bots.dispatcher import Dispatcher
from bots.pipeline import Pipeline
from core.messages import Capabilities, Inbound, Outbound

# aiogram (through the Telegram channel) is imported only by the commands that use it: its models take
# about half the start-up of `sunshine serve` and `sunshine worker`, which every deployment pays on
# each restart, Telegram or not (measured by the crash drill, tests/drills/crash.py).
if TYPE_CHECKING:
    from channels.telegram import TelegramChannel
    from channels.telegram.replies import ReplyHandler

app = typer.Typer(
    help="Telegram: poll for updates while developing, or register the webhook.", no_args_is_help=True
)

BotOption = Annotated[
    str | None, typer.Option("--bot", help="Bot id; default: every bot with Telegram settings.")
]


@app.command("poll")
def poll_command(
    config: ConfigOption = None,
    demo_mode: DemoOption = False,
    bot: BotOption = None,
    delete_webhook: Annotated[
        bool, typer.Option("--delete-webhook", help="Remove the bot's webhook first (getUpdates needs that).")
    ] = False,
) -> None:
    """Fetch updates with getUpdates and answer them; runs the outbox dispatcher too. Ctrl-C stops."""
    setup_logging(logging.INFO)
    with clear_errors():
        deployment = bootstrap(settings_from(config), demo_mode=demo_mode)
        asyncio.run(_poll(deployment, bot, delete_webhook))
    info("telegram polling stopped")


@app.command("set-webhook")
def set_webhook_command(
    config: ConfigOption = None,
    bot: BotOption = None,
    drop_pending: Annotated[
        bool, typer.Option("--drop-pending", help="Discard the updates Telegram holds for the bot.")
    ] = False,
) -> None:
    """Tell Telegram to post updates to public_base_url + /webhooks/telegram/<bot>, with the secret token."""
    setup_logging(logging.WARNING)
    with clear_errors():
        deployment = bootstrap(settings_from(config))
        done = asyncio.run(_set_webhooks(deployment, bot, drop_pending))
    for bot_id, url in done:
        typer.echo(f"{bot_id}: {url}")


# ---------------------------------------------------------------- the work, testable without a terminal


def queueing_handler(pipeline: Pipeline, capabilities: Capabilities, dispatcher: Dispatcher) -> ReplyHandler:
    """Handle a polled message in one transaction, its replies queued for the dispatcher (woken at once)."""

    async def handle(inbound: Inbound) -> list[Outbound] | None:
        await pipeline.handle(inbound, capabilities, inline=False)
        dispatcher.wake()
        return None

    return handle


async def run_polling(
    channel: TelegramChannel,
    bot_ids: Sequence[str],
    handle: ReplyHandler,
    dispatcher: Dispatcher,
    offsets: Path,
    stop: asyncio.Event,
    *,
    delete_webhook: bool = False,
) -> None:
    """Poll every bot and dispatch the outbox until `stop` is set (or polling cannot go on)."""
    from aiogram.exceptions import AiogramError, TelegramAPIError

    from channels.telegram.polling import PollingStopped

    try:
        if delete_webhook:
            for bot_id in bot_ids:
                await channel.delete_webhook(bot_id)
        pollers = [channel.poller(bot_id, handle, offsets / f"{bot_id}.offset") for bot_id in bot_ids]
    except (TelegramAPIError, AiogramError) as exc:
        raise CommandError(f"telegram refused to delete the webhook: {_reason(exc)}") from None
    tasks = [
        asyncio.create_task(poller.run(stop), name=f"telegram-poll-{poller.bot_id}") for poller in pollers
    ]
    tasks.append(asyncio.create_task(dispatcher.run(stop), name="outbox-dispatcher"))
    try:
        for finished in asyncio.as_completed(tasks):
            await finished
    except PollingStopped as exc:
        raise CommandError(str(exc)) from None
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def telegram_of(deployment: Deployment, bot: str | None) -> tuple[TelegramChannel, list[str]]:
    """The configured Telegram channel and the bots to work on."""
    from channels.telegram import TelegramChannel
    from channels.telegram.settings import SettingsProblem

    channel = deployment.channels.get("telegram")
    if not isinstance(channel, TelegramChannel):
        raise CommandError('no bot uses the telegram channel (add "telegram" to a bot\'s channels)')
    if channel.context is None:
        try:
            channel.configure(deployment.context_for("telegram"))
        except SettingsProblem as exc:
            raise CommandError(str(exc)) from None
    served = sorted(channel.settings)
    if bot is not None:
        if bot not in served:
            raise CommandError(f"bot {bot!r} has no telegram settings (token, secret_token)")
        return channel, [bot]
    if not served:
        raise CommandError("no bot has telegram settings (token, secret_token)")
    return channel, served


async def _poll(deployment: Deployment, bot: str | None, delete_webhook: bool) -> None:
    channel: TelegramChannel | None = None
    try:
        channel, bot_ids = telegram_of(deployment, bot)
        await deployment.services.database.upgrade()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        handle = queueing_handler(deployment.pipeline, channel.capabilities, deployment.dispatcher)
        info(f"polling telegram for: {', '.join(bot_ids)} (Ctrl-C stops)")
        offsets = deployment.settings.data_dir / "telegram"
        await run_polling(
            channel, bot_ids, handle, deployment.dispatcher, offsets, stop, delete_webhook=delete_webhook
        )
    finally:
        if channel is not None:
            await channel.close()
        await deployment.close()


async def set_webhooks(
    channel: TelegramChannel, bot_ids: Sequence[str], base_url: str, *, drop_pending: bool = False
) -> list[tuple[str, str]]:
    from aiogram.exceptions import AiogramError, TelegramAPIError

    from channels.telegram.settings import SettingsProblem

    done = []
    for bot_id in bot_ids:
        try:
            url = await channel.set_webhook(bot_id, base_url=base_url, drop_pending_updates=drop_pending)
        except SettingsProblem as exc:
            raise CommandError(str(exc)) from None
        except (TelegramAPIError, AiogramError) as exc:
            raise CommandError(f"telegram refused the webhook of {bot_id!r}: {_reason(exc)}") from None
        done.append((bot_id, url))
    return done


async def _set_webhooks(deployment: Deployment, bot: str | None, drop_pending: bool) -> list[tuple[str, str]]:
    channel: TelegramChannel | None = None
    try:
        channel, bot_ids = telegram_of(deployment, bot)
        return await set_webhooks(
            channel, bot_ids, deployment.settings.public_base_url or "", drop_pending=drop_pending
        )
    finally:
        if channel is not None:
            await channel.close()
        await deployment.close()


def _reason(exc: Exception) -> str:
    from aiogram.exceptions import TelegramAPIError

    return exc.message if isinstance(exc, TelegramAPIError) else type(exc).__name__
