"""`sunshine wechat ...`: the official account's side of the setup, from a terminal.

`menu` installs the custom menu (办事 / 评价 / 人工 unless the bot's settings give one) through the API,
so an operator never has to click it together in the console, and its keys always match what the
channel understands.

A bot's WeChat settings are the table `[channels.wechat.<bot id>]` of the configuration file (secrets
from `SUNSHINE_CHANNELS__WECHAT__<BOT ID>__APP_SECRET` and the like).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from bots.cli_common import CommandError, ConfigOption, clear_errors, info, settings_from
from bots.settings import Settings
from channels.wechat.settings import SettingsProblem, WeChatBotSettings, parse_settings

app = typer.Typer(help="The WeChat official account (公众号) of a bot.", no_args_is_help=True)


@app.callback()
def wechat() -> None:
    """The WeChat official account (公众号) of a bot."""
    # A group even with one command, so `wechat menu` reads the same standalone and under `sunshine`.


def wechat_settings(settings: Settings, bot_id: str) -> WeChatBotSettings:
    """The bot's validated WeChat settings, or a CommandError saying what is missing or wrong."""
    if bot_id not in settings.bots:
        known = ", ".join(sorted(settings.bots)) or "none"
        raise CommandError(f"no bot {bot_id!r} in the configuration (configured: {known})")
    raw: Any = settings.channels.get("wechat", {}).get(bot_id)
    if raw is None:
        raise CommandError(f"bot {bot_id!r} has no WeChat settings: add a [channels.wechat.{bot_id}] table")
    try:
        return parse_settings(bot_id, raw)
    except SettingsProblem as exc:
        raise CommandError(str(exc)) from None


@app.command("menu")
def menu_command(
    bot_id: Annotated[str, typer.Argument(metavar="BOT", help="The bot whose account gets the menu.")],
    config: ConfigOption = None,
    show: Annotated[bool, typer.Option("--print", help="Only print the menu JSON; install nothing.")] = False,
) -> None:
    """Install the bot's custom menu on its official account (replaces the current menu)."""
    with clear_errors():
        bot = wechat_settings(settings_from(config), bot_id)
        menu = bot.installed_menu.to_json()
        if show:
            typer.echo(json.dumps(menu, ensure_ascii=False, indent=2))
            return
        _install(bot_id, bot, menu)
    info(f"menu installed for bot {bot_id!r}: {', '.join(b['name'] for b in menu['button'])}")


def _install(bot_id: str, bot: WeChatBotSettings, menu: dict[str, Any]) -> None:
    # Imported here: the channel brings wechatpy, which `sunshine serve` without WeChat need not load.
    from channels.wechat.channel import account_for
    from channels.wechat.client import delivery_for

    api = account_for(bot_id, bot).api  # blocking, which is fine here: no event loop in this command
    try:
        api.create_menu(menu)
    except Exception as exc:  # turned into the one line the operator sees
        raise CommandError(f"WeChat refused the menu: {delivery_for(exc).error}") from None
