"""What every `sunshine` command shares: loading settings, logging to stderr, and clear failures.

An operator at a terminal gets one line saying what is wrong and an exit code, never a traceback:
the traceback would say nothing to them, and could print values (addresses, texts) into a log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

from bots.settings import Settings, SettingsError, load_settings
from channels.registry import ChannelLoadError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Settings file (TOML); default ./sunshine.toml when it exists.", dir_okay=False
    ),
]
DemoOption = Annotated[bool, typer.Option("--demo", help="Run the demo county; no configuration needed.")]


class CommandError(Exception):
    """A failure the user can act on; its message is printed as it is."""


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def info(message: str) -> None:
    typer.echo(message, err=True)


def setup_logging(level: int) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # SQLAlchemy and Alembic narrate every statement at INFO; that is noise for an operator.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG: a citizen's words, typed passwords.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def settings_from(config: Path | None) -> Settings:
    return load_settings(config)


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the failures an operator can fix into one line on stderr and exit code 1."""
    try:
        yield
    except (SettingsError, ChannelLoadError, CommandError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(
            f"database error ({type(exc).__name__}): check database_url and that the schema is current "
            "(`sunshine db upgrade`)"
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
