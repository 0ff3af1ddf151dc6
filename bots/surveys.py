"""Surveys as the citizen reads them, and the two ways they start: a campaign from a spreadsheet (CLI
or desk) and the question after a case closes (called by whoever closes it).

The rules — who may be asked, when, how fast — are `core.surveys`; this module adds the words, in the
citizen's language and in the short form on SMS, and the units of work around them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from bots.imitation import KNOWN
from bots.pipeline import Services
from bots.survey_import import ParsedRow
from conversations import texts
from core import surveys
from core.backend import Backend
from core.messages import Capabilities, Choice, Outbound
from core.ratings import SurveyView
from core.receipts import format_case_number
from core.survey_rows import RowProblem, validate_row
from core.surveys import CampaignSummary, RowResult
from storage.models import Case, Conversation

GRADES = ("rate.grade.1", "rate.grade.2", "rate.grade.3", "rate.grade.4")
# Channels whose client fetches its messages (`bots.mailbox`): nothing rings at night, and a message is
# shown when fetched whatever its send time, so quiet hours would only make the question unanswerable.
FETCHED_CHANNELS = frozenset({"webchat", "console"})
BATCH = 50  # rows per transaction: short enough to keep the database free for citizens' messages


def _grades(language: str) -> tuple[Choice, ...]:
    return tuple(Choice(f"grade:{index}", texts.text(language, key)) for index, key in enumerate(GRADES, 1))


def survey_question(survey: SurveyView, language: str, *, concise: bool) -> Outbound:
    """The question about one visit: the service and where, then the four grades to reply with."""
    where = " ".join(part for part in (survey.department, survey.window) if part)
    question = texts.text(language, "rate.ask_survey", concise=concise, service=survey.service, where=where)
    return Outbound(text=question, choices=_grades(language))


def case_question(number: str, language: str, *, concise: bool) -> Outbound:
    return Outbound(texts.text(language, "rate.ask_case", concise=concise, number=number), _grades(language))


# ---------------------------------------------------------------- after a case closes


async def ask_after_close(
    b: Backend,
    case_id: int,
    *,
    language: str | None = None,
    capabilities: Mapping[str, Capabilities] | None = None,
) -> int | None:
    """Queue the "how was your case handled?" question, in the caller's transaction; the survey id, or
    None when nobody is asked (anonymous, no contact, asked before, opted out, not closed).

    Call it in the same transaction that closes the case, so a closed case is always asked exactly once.
    The language is the citizen's conversation's, else `language`, else Simplified Chinese.
    """
    case = await b.session.get(Case, case_id)
    if case is None or case.anonymous or not case.contact_enc:
        return None
    channel = str(b.keyring.decrypt_json(case.contact_enc).get("channel", ""))
    known = capabilities if capabilities is not None else KNOWN
    concise = known[channel].concise if channel in known else False
    lang = await _language_of(b, case.conversation_id) or language or texts.SOURCE_LANGUAGE
    number = format_case_number(case.number)
    service = texts.text(lang, "rate.case_service", number=number)
    survey = await surveys.after_close(
        b,
        case,
        service=service,
        render=lambda _: case_question(number, lang, concise=concise),
        quiet=channel not in FETCHED_CHANNELS,
    )
    return survey.id if survey is not None else None


async def _language_of(b: Backend, conversation_id: int | None) -> str | None:
    if conversation_id is None:
        return None
    query = select(Conversation.language).where(Conversation.id == conversation_id)
    language = await b.session.scalar(query)
    return language if language in texts.LANGUAGES else None


# ---------------------------------------------------------------- campaigns


@dataclass(frozen=True)
class CampaignTarget:
    """Who sends the campaign, and what its rows are checked against."""

    bot_id: str
    channel: str
    language: str
    concise: bool
    departments: tuple[str, ...] = ()


async def run_campaign(
    services: Services,
    rows: Iterable[ParsedRow],
    target: CampaignTarget,
    *,
    source: str,
    actor: str,
    dry_run: bool = False,
    progress: Callable[[RowResult], None] | None = None,
) -> CampaignSummary:
    """One survey per acceptable row, in batches of short transactions; the summary of what happened.

    With `dry_run` nothing is written: every row is checked and planned (opt-outs, rows already
    surveyed, quiet hours, pacing) exactly as a real run would, so the summary predicts the real one.
    Running the same file again after an interruption sends only what the first run did not.
    """
    summary = CampaignSummary()
    campaign_id: int | None = None
    if not dry_run:
        async with services.database.transaction() as session:
            campaign_id = await surveys.open_campaign(
                services.backend(session),
                bot_id=target.bot_id,
                channel=target.channel,
                source=source,
                actor=actor,
            )
    pacer: surveys.Pacer | None = None
    pending = list(rows)
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        if dry_run:
            async with services.database.reading() as session:
                pacer, results = await _batch(services.backend(session), batch, target, None, pacer)
        else:
            async with services.database.transaction() as session:
                pacer, results = await _batch(services.backend(session), batch, target, campaign_id, pacer)
        for result in results:
            summary.add(result)
            if progress is not None:
                progress(result)
    if campaign_id is not None:
        async with services.database.transaction() as session:
            await surveys.close_campaign(services.backend(session), campaign_id, summary)
    return summary


async def _batch(
    b: Backend,
    rows: list[ParsedRow],
    target: CampaignTarget,
    campaign_id: int | None,
    pacer: surveys.Pacer | None,
) -> tuple[surveys.Pacer, list[RowResult]]:
    if pacer is None:
        pacer = await surveys.pacer_for(b, bot_id=target.bot_id, channel=target.channel)
    results: list[RowResult] = []
    for parsed in rows:
        checked = validate_row(
            parsed.line, parsed.values, zone=b.zone, now=b.clock.now(), departments=target.departments
        )
        if isinstance(checked, RowProblem):
            results.append(surveys.invalid(checked))
        elif campaign_id is None:
            results.append(
                await surveys.plan_row(b, checked, bot_id=target.bot_id, channel=target.channel, pacer=pacer)
            )
        else:
            results.append(
                await surveys.send_row(
                    b,
                    campaign_id,
                    checked,
                    bot_id=target.bot_id,
                    channel=target.channel,
                    pacer=pacer,
                    render=lambda survey: survey_question(survey, target.language, concise=target.concise),
                )
            )
    return pacer, results
