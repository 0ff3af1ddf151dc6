"""`sunshine staff ...`: desk accounts from a terminal — the first admin has to come from somewhere.

A password is typed twice at a hidden prompt, read from standard input (`--password-stdin`, for
scripts), or generated and printed once (`--generate-password`). It is never a command-line argument:
those end up in shell history and in every `ps` listing.
"""

from __future__ import annotations

import asyncio
import sys
import unicodedata
from typing import Annotated

import typer

from bots.bootstrap import bot_settings, build_services
from bots.cli_common import CommandError, ConfigOption, DemoOption, clear_errors, info, settings_from
from bots.desk import accounts
from bots.desk.labels import ROLE
from bots.pipeline import Services
from bots.settings import Settings

app = typer.Typer(help="Staff accounts for the desk (/desk).", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]
Generate = Annotated[bool, typer.Option("--generate-password", help="Generate a password and print it once.")]
_ACTOR = "cli"


@app.command("add")
def add_command(
    username: Annotated[str, typer.Argument(metavar="NAME", help="Login name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option("--role", help="admin, supervisor or staff.")] = "staff",
    department: Annotated[
        str | None, typer.Option("--department", help="The department (required for staff).")
    ] = None,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Name shown in the desk.")
    ] = None,
    password_stdin: PasswordStdin = False,
    generate: Generate = False,
    config: ConfigOption = None,
    demo_mode: DemoOption = False,
) -> None:
    """Add a desk account."""
    with clear_errors():
        settings = settings_from(config)
        _check_department(settings, department, demo_mode=demo_mode)
        password = _password(password_stdin, generate)
        asyncio.run(_add(settings, username, role, department, display_name or username, password))
    info(f"added {role} {username}" + (f" ({department})" if department else ""))
    if generate:
        typer.echo(password)


@app.command("list")
def list_command(config: ConfigOption = None) -> None:
    """Every account, with role, department and whether it can sign in."""
    with clear_errors():
        rows = asyncio.run(_list(settings_from(config)))
    if not rows:
        info("no staff accounts yet: add one with `sunshine staff add NAME --role admin`")
        return
    header = ("USERNAME", "NAME", "ROLE", "DEPARTMENT", "ACTIVE")
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)).rstrip())


@app.command("disable")
def disable_command(
    username: Annotated[str, typer.Argument(metavar="NAME")],
    config: ConfigOption = None,
) -> None:
    """Stop an account from signing in; its open desk sessions end at their next request."""
    with clear_errors():
        asyncio.run(_set_active(settings_from(config), username, False))
    info(f"{username} disabled")


@app.command("enable")
def enable_command(
    username: Annotated[str, typer.Argument(metavar="NAME")],
    config: ConfigOption = None,
) -> None:
    """Let a disabled account sign in again."""
    with clear_errors():
        asyncio.run(_set_active(settings_from(config), username, True))
    info(f"{username} enabled")


@app.command("password")
def password_command(
    username: Annotated[str, typer.Argument(metavar="NAME")],
    password_stdin: PasswordStdin = False,
    generate: Generate = False,
    config: ConfigOption = None,
) -> None:
    """Set a new password; sessions opened with the old one end."""
    with clear_errors():
        password = _password(password_stdin, generate)
        asyncio.run(_set_password(settings_from(config), username, password))
    info(f"password of {username} changed")
    if generate:
        typer.echo(password)


def _password(from_stdin: bool, generate: bool) -> str:
    if from_stdin and generate:
        raise CommandError("choose one of --password-stdin and --generate-password")
    if generate:
        return accounts.generated_password()
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        accounts.check_password(password)
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    return password


def _check_department(settings: Settings, department: str | None, *, demo_mode: bool) -> None:
    """A typo in the department would give someone an empty desk; catch it while they are here."""
    if department is None:
        return
    bots = bot_settings(settings, demo_mode=True) if demo_mode else dict(settings.bots)
    known = {name for bot in bots.values() for name in bot.departments}
    if known and department not in known:
        raise CommandError(f"unknown department {department!r}; configured: {', '.join(sorted(known))}")


def _services(settings: Settings) -> Services:
    """Accounts need only the database and the keys; no bot has to be configured yet."""
    return build_services(settings, dict(settings.bots))


async def _add(
    settings: Settings,
    username: str,
    role: str,
    department: str | None,
    display_name: str,
    password: str,
) -> None:
    services = _services(settings)
    try:
        await services.database.upgrade()
        async with services.database.transaction() as session:
            await accounts.add(
                services.backend(session),
                username=username,
                display_name=display_name,
                role=role,
                department=department,
                password=password,
                actor=_ACTOR,
                source=_ACTOR,
            )
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    finally:
        await services.database.dispose()


async def _list(settings: Settings) -> list[tuple[str, ...]]:
    services = _services(settings)
    try:
        async with services.database.reading() as session:
            people = await accounts.everyone(services.backend(session))
    finally:
        await services.database.dispose()
    return [
        (
            person.username,
            person.display_name,
            f"{person.role} ({ROLE.get(person.role, '')})",
            person.department or "-",
            "yes" if person.active else "no",
        )
        for person in people
    ]


async def _set_active(settings: Settings, username: str, active: bool) -> None:
    services = _services(settings)
    try:
        async with services.database.transaction() as session:
            await accounts.set_active(
                services.backend(session), username, active, actor=_ACTOR, source=_ACTOR
            )
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    finally:
        await services.database.dispose()


async def _set_password(settings: Settings, username: str, password: str) -> None:
    services = _services(settings)
    try:
        async with services.database.transaction() as session:
            await accounts.set_password(
                services.backend(session), username, password, actor=_ACTOR, source=_ACTOR
            )
    except accounts.AccountError as exc:
        raise CommandError(str(exc)) from None
    finally:
        await services.database.dispose()


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
