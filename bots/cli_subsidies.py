"""`sunshine subsidies import FILE --programme NAME`: load a finance bureau's payment list.

The report goes to stdout (it is the result an operator keeps or forwards); the progress bar goes
to stderr. Exit code 0 when the file was imported (or had nothing new), 1 when any row was rejected
and so nothing was imported. ID numbers appear only masked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from bots.bootstrap import build_services
from bots.cli_common import CommandError, ConfigOption, clear_errors, settings_from
from bots.settings import Settings
from core.spreadsheet import SpreadsheetError
from core.subsidy_import import ColumnMapping, ImportProblem, ImportReport, import_file, load_mapping

app = typer.Typer(help="Subsidy payment lists (惠民惠农补贴).", no_args_is_help=True)

_PHASES = {"check": "checking rows", "write": "writing"}


@app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV (UTF-8 or GBK) or XLSX.", exists=True, dir_okay=False)
    ],
    programme: Annotated[
        str,
        typer.Option(
            "--programme", help="Programme of the rows that do not name one (e.g. 耕地地力保护补贴)."
        ),
    ],
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping", help='TOML naming other headers: [columns] amount = "实发数".', dir_okay=False
        ),
    ] = None,
    bot: Annotated[
        str | None, typer.Option("--bot", help="Check each row's department against this bot's departments.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Import every row of FILE, or none of them if any row is wrong."""
    with clear_errors():
        settings = settings_from(config)
        departments: tuple[str, ...] = ()
        if bot is not None:
            if bot not in settings.bots:
                raise CommandError(
                    f"no bot {bot!r} in the settings (known: {', '.join(settings.bots) or 'none'})"
                )
            departments = tuple(settings.bots[bot].departments)
        try:
            columns = load_mapping(mapping) if mapping is not None else None
            report = asyncio.run(_import(settings, file, programme, columns, departments))
        except (ImportProblem, SpreadsheetError) as exc:
            raise CommandError(str(exc)) from None
    _print(report)
    if not report.imported:
        raise typer.Exit(1)


async def _import(
    settings: Settings,
    file: Path,
    programme: str,
    mapping: ColumnMapping | None,
    departments: tuple[str, ...],
) -> ImportReport:
    services = build_services(settings, dict(settings.bots))
    console = Console(stderr=True)
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as bar:

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        try:
            async with services.database.transaction() as session:
                return await import_file(
                    services.backend(session),
                    file,
                    programme=programme,
                    mapping=mapping,
                    departments=departments,
                    progress=progress,
                )
        finally:
            await services.database.dispose()


def _print(report: ImportReport) -> None:
    where = f"{report.file} ({report.kind}{', ' + report.encoding if report.encoding else ''})"
    typer.echo(f"{where}: header in row {report.header_row}, {report.rows} data rows")
    if report.rejected:
        for rejected in report.rejected:
            who = f" ({rejected.id_masked})" if rejected.id_masked else ""
            typer.echo(f"  row {rejected.row}{who}: {'; '.join(rejected.reasons)}")
        typer.echo(f"rejected {len(report.rejected)} of {report.rows} rows: nothing was imported")
        return
    parts = [f"added {report.added}"]
    if report.already:
        parts.append(f"{report.already} already imported before")
    if report.repeated:
        parts.append(f"{report.repeated} repeated within the file")
    if report.added == 0 and report.rows:
        parts.append("nothing new")
    typer.echo("; ".join(parts))
