"""`sunshine`: run the service, the outbox worker, a terminal chat, and the handoff queue.

Output meant for the person at the terminal (the URL, the demo login) goes to stdout; progress and
logs go to stderr, so either can be redirected without losing the other.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated

import typer
from aiohttp import web

from bots import demo, scheduler
from bots.app import AccessLogger, build_app
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
from bots.cli_handoff import app as handoff_app
from bots.cli_staff import app as staff_app
from bots.cli_subsidies import app as subsidies_app
from bots.cli_survey import app as survey_app
from bots.cli_telegram import app as telegram_app
from bots.cli_wechat import app as wechat_app
from bots.imitation import KNOWN, capabilities_of
from bots.settings import Settings
from channels.console import Terminal
from core.messages import Inbound, Outbound
from storage.database import Database

app = typer.Typer(
    help="Sunshine: citizens reach their county government by chat and SMS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(handoff_app, name="handoff")
app.add_typer(staff_app, name="staff")
app.add_typer(subsidies_app, name="subsidies")
app.add_typer(survey_app, name="survey")
app.add_typer(wechat_app, name="wechat")
app.add_typer(telegram_app, name="telegram")


def main() -> None:
    app()


# ---------------------------------------------------------------- serve


@app.command()
def serve(
    demo_mode: DemoOption = False,
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)] = None,
) -> None:
    """Run the web service: web chat, channel webhooks, and the outbox dispatcher."""
    setup_logging(logging.INFO)
    with clear_errors():
        settings = settings_from(config)
        overrides = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
        settings = settings.model_copy(update=overrides)
        deployment = bootstrap(settings, demo_mode=demo_mode)
        try:
            web.run_app(
                _serving(deployment),
                host=settings.host,
                port=settings.port,
                print=lambda message: info(message.strip()),
                access_log_class=AccessLogger,
                handle_signals=True,
            )
        except OSError as exc:  # the port is taken, or the address is not this machine's
            where = f"{settings.host}:{settings.port}"
            raise CommandError(f"cannot listen on {where}: {exc.strerror or exc}") from None


async def _serving(deployment: Deployment) -> web.Application:
    try:
        info("upgrading the database schema")
        await deployment.services.database.upgrade()
        seeded = await demo.seed(deployment.services) if deployment.demo else None
    except BaseException:
        await deployment.close()
        raise
    _announce(deployment.settings, deployment, seeded)
    return build_app(deployment)


def _announce(settings: Settings, deployment: Deployment, seeded: demo.DemoSeed | None) -> None:
    lines = [f"Sunshine is running at {settings.base_url}/"]
    for bot_id, channels in deployment.bot_channels.items():
        if "webchat" in channels:
            lines.append(f"  web chat ({bot_id}): {settings.base_url}/chat/{bot_id}")
    lines.append(f"  staff desk: {settings.base_url}/desk")
    if seeded is not None:
        lines += [
            "",
            "Demo county (阳光县) — try these in the chat:",
        ]
        if seeded.staff_password is not None:
            lines.append(
                f"  staff login: {demo.DEMO_STAFF_USERNAME} / {seeded.staff_password}  (new on every start)"
            )
        lines += [f"  subsidy query: {person.id_number} {person.name}" for person in demo.DEMO_PEOPLE]
        lines.append(f"  demo phone (pending satisfaction survey): {demo.DEMO_PHONE}")
        if "sms" in deployment.bot_channels.get(demo.DEMO_BOT_ID, ()):
            persona_url = f"{settings.base_url}/chat/{demo.DEMO_BOT_ID}?persona={demo.DEMO_PERSONA}"
            lines.append(f"  answer it in the browser: {persona_url}")
    typer.echo("\n".join(lines))


# ---------------------------------------------------------------- worker


@app.command()
def worker(demo_mode: DemoOption = False, config: ConfigOption = None) -> None:
    """Run only the outbox dispatcher and the deadline scheduler (for separate web and worker processes)."""
    setup_logging(logging.INFO)
    with clear_errors():
        deployment = bootstrap(settings_from(config), demo_mode=demo_mode)
        asyncio.run(_work(deployment))


async def _work(deployment: Deployment) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    info(f"dispatching outbox messages for: {', '.join(sorted(deployment.senders))}")
    try:
        async with scheduler.running(deployment, stop):  # deadline reminders and warnings, alongside
            await deployment.dispatcher.run(stop)
    finally:
        await deployment.close()
    info("worker stopped")


# ---------------------------------------------------------------- chat


@app.command()
def chat(
    demo_mode: DemoOption = False,
    config: ConfigOption = None,
    bot: Annotated[str | None, typer.Option("--bot", help="Bot id; default: the first configured.")] = None,
    channel: Annotated[
        str,
        typer.Option("--channel", help="Channel whose capabilities to imitate (console, webchat, sms, ...)."),
    ] = "console",
    address: Annotated[
        str, typer.Option("--as", help="Who is writing: the sender address.")
    ] = "console-user",
) -> None:
    """Talk to a bot in this terminal; with piped input, one message per line and the replies printed."""
    setup_logging(logging.WARNING)
    with clear_errors():
        deployment = bootstrap(settings_from(config), demo_mode=demo_mode)
        asyncio.run(_chat(deployment, bot, channel, address.strip()))


async def _chat(deployment: Deployment, bot: str | None, channel: str, address: str) -> None:
    try:
        bots = list(deployment.services.profiles)
        bot_id = bot or (demo.DEMO_BOT_ID if deployment.demo else bots[0])
        if bot_id not in deployment.services.profiles:
            raise CommandError(f"no bot {bot_id!r}; configured: {', '.join(bots)}")
        capabilities = capabilities_of(channel, deployment.channels)
        if capabilities is None:
            known = ", ".join(sorted({*deployment.channels, *KNOWN}))
            raise CommandError(f"unknown channel {channel!r}; known: {known}")
        if not address:
            raise CommandError("--as needs a sender address")
        await deployment.services.database.upgrade()
        if deployment.demo:
            await demo.seed(deployment.services, reset_password=False)

        async def handle(inbound: Inbound) -> list[Outbound]:
            return await deployment.pipeline.handle(inbound, capabilities, inline=True)

        terminal = Terminal(
            handle=handle,
            mailbox=deployment.mailbox,
            bot_id=bot_id,
            channel=channel,
            address=address,
            capabilities=capabilities,
            stdin=sys.stdin,
            stdout=sys.stdout,
            interactive=sys.stdin.isatty(),
        )
        await terminal.run()
    finally:
        await deployment.close()


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Bring the database schema up to date (safe to run any time)."""
    setup_logging(logging.WARNING)
    with clear_errors():
        settings = settings_from(config)
        asyncio.run(_upgrade(settings))
    info("database schema is up to date")


async def _upgrade(settings: Settings) -> None:
    database = Database(settings.database)
    try:
        await database.upgrade()
    finally:
        await database.dispose()


if __name__ == "__main__":
    main()
