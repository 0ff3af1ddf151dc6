"""`sunshine survey send FILE`: a satisfaction survey to everyone in a list of served citizens.

The progress bar goes to stderr and the summary to stdout, so the summary can be saved or mailed
while the operator still watches the bar. Invalid rows are listed by line with the reason and no
phone number: summaries get forwarded, phone numbers should not be.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bots import demo
from bots.bootstrap import Deployment, bootstrap
from bots.cli_common import CommandError, ConfigOption, DemoOption, clear_errors, settings_from, setup_logging
from bots.survey_import import SurveyFileError, read_survey_file
from bots.surveys import CampaignTarget, run_campaign
from core.surveys import CampaignSummary, Outcome, RowResult

app = typer.Typer(help="Satisfaction surveys (满意度调查).", no_args_is_help=True)

SHOWN_PROBLEMS = 50
_LABELS = {
    Outcome.QUEUED: "queued to send now",
    Outcome.DEFERRED: "held until quiet hours end",
    Outcome.OPTED_OUT: "skipped: opted out",
    Outcome.DUPLICATE: "skipped: already surveyed",
    Outcome.INVALID: "invalid rows",
}


@app.command("send")
def send(
    file: Annotated[
        Path,
        typer.Argument(help="CSV (UTF-8 or GBK) or XLSX: phone, service, window, staff, department, time."),
    ],
    bot: Annotated[str | None, typer.Option("--bot", help="Bot id; default: the first configured.")] = None,
    channel: Annotated[str, typer.Option("--channel", help="Channel to ask on.")] = "sms",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and show what would happen; send nothing.")
    ] = False,
    config: ConfigOption = None,
    demo_mode: DemoOption = False,
) -> None:
    """Send one survey per row; opted-out numbers are skipped, quiet hours and the rate cap respected."""
    setup_logging(logging.WARNING)
    with clear_errors():
        deployment = bootstrap(settings_from(config), demo_mode=demo_mode)
        summary, target = asyncio.run(_send(deployment, file, bot, channel, dry_run))
        typer.echo(describe(summary, file.name, target, deployment.services.policy.timezone, dry_run=dry_run))


async def _send(
    deployment: Deployment, file: Path, bot: str | None, channel: str, dry_run: bool
) -> tuple[CampaignSummary, CampaignTarget]:
    try:
        target = _target(deployment, bot, channel)
        try:
            rows = read_survey_file(file)
        except SurveyFileError as exc:
            raise CommandError(str(exc)) from None
        await deployment.services.database.upgrade()
        console = Console(stderr=True)
        columns = (TextColumn("surveys"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("surveys", total=len(rows))

            def advance(_: RowResult) -> None:
                progress.advance(task)

            summary = await run_campaign(
                deployment.services,
                rows,
                target,
                source=file.name,
                actor="cli",
                dry_run=dry_run,
                progress=advance,
            )
        return summary, target
    finally:
        await deployment.close()


def _target(deployment: Deployment, bot: str | None, channel: str) -> CampaignTarget:
    profiles = deployment.services.profiles
    bot_id = bot or (demo.DEMO_BOT_ID if deployment.demo else next(iter(profiles)))
    if bot_id not in profiles:
        raise CommandError(f"no bot {bot_id!r}; configured: {', '.join(profiles)}")
    channels = deployment.bot_channels.get(bot_id, frozenset())
    if channel not in channels:
        # The answer comes back on the channel the question went out on; the bot must be listening there.
        raise CommandError(
            f"bot {bot_id!r} has no channel {channel!r}; its channels: {', '.join(sorted(channels))}"
        )
    profile = profiles[bot_id]
    capabilities = deployment.capabilities.get(channel)
    return CampaignTarget(
        bot_id=bot_id,
        channel=channel,
        language=profile.default_language,
        concise=bool(capabilities and capabilities.concise),
        departments=tuple(profile.departments),
    )


def describe(
    summary: CampaignSummary, source: str, target: CampaignTarget, timezone: str, *, dry_run: bool
) -> str:
    """The summary an operator reads at the end, and can paste into a report."""
    zone = ZoneInfo(timezone)
    counts = [("rows read", summary.rows)] + [
        (label, summary.counts[outcome]) for outcome, label in _LABELS.items()
    ]
    width = max(len(label) for label, _ in counts)
    lines = [
        f"Survey campaign from {source} (bot {target.bot_id}, channel {target.channel})"
        + (" — DRY RUN, nothing sent" if dry_run else ""),
        *(f"  {label.ljust(width)}  {number}" for label, number in counts),
    ]
    if summary.first_send is not None and summary.last_send is not None:
        first = summary.first_send.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        last = summary.last_send.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append(f"  sending from {first} until {last}")
    if summary.problems:
        lines.append("Invalid rows:")
        for problem in summary.problems[:SHOWN_PROBLEMS]:
            lines.append(f"  line {problem.line}: {problem.message}")
        if len(summary.problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(summary.problems) - SHOWN_PROBLEMS} more")
    return "\n".join(lines)
