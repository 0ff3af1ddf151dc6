"""Satisfaction surveys sent on the service's own initiative: campaigns from a list of served citizens,
and the question to the submitter once their case is closed.

Each survey is a `Survey` row and its question an outbox row (kind "survey"), written together, so a
survey that is recorded is also sent, exactly once. Three things hold a question back:
- opt-outs: an address that asked for no more messages gets none, and the row is reported as skipped;
- quiet hours: nothing is sent at night; the outbox row waits (`next_attempt_at`) until they end, and
  the survey's time to answer starts only then;
- pacing: one sender sends at most `survey_rate_per_minute`, each question a slot after the last one
  already queued for that sender, so a campaign of thousands does not trip the SMS platform's limits.
A campaign row's keyed hash makes sending the same file again (after a crash, or by mistake) ask
nobody twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import optout, outbox, quiet_hours
from core.backend import Backend
from core.inbox import address_hash
from core.messages import Outbound
from core.ratings import SurveyView, create_survey
from core.survey_rows import RowProblem, SurveyRow
from storage.models import Case, Conversation, OutboxMessage, Survey
from storage.schedule_models import SurveyCampaign, SurveyCampaignRow

SURVEY_KIND = "survey"

Render = Callable[[SurveyView], Outbound]


class Outcome(StrEnum):
    QUEUED = "queued"  # goes out now, paced
    DEFERRED = "deferred"  # held until quiet hours end
    OPTED_OUT = "opted_out"
    DUPLICATE = "duplicate"  # this row was already surveyed by an earlier run
    INVALID = "invalid"


@dataclass(frozen=True)
class RowResult:
    line: int
    outcome: Outcome
    send_at: datetime | None = None
    survey_id: int | None = None
    reason: str | None = None
    message: str | None = None


@dataclass
class CampaignSummary:
    rows: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    problems: list[RowProblem] = field(default_factory=list)
    first_send: datetime | None = None
    last_send: datetime | None = None

    def add(self, result: RowResult) -> None:
        self.rows += 1
        self.counts[result.outcome] += 1
        if result.outcome == Outcome.INVALID:
            self.problems.append(RowProblem(result.line, result.reason or "", result.message or ""))
        if result.send_at is not None:
            self.first_send = min(self.first_send or result.send_at, result.send_at)
            self.last_send = max(self.last_send or result.send_at, result.send_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "counts": {str(outcome): count for outcome, count in self.counts.items()},
            "problems": [{"line": p.line, "reason": p.reason, "message": p.message} for p in self.problems],
            "first_send": self.first_send.isoformat() if self.first_send else None,
            "last_send": self.last_send.isoformat() if self.last_send else None,
        }


class Pacer:
    """Hands out send times for one sender: spaced by the rate cap, never inside quiet hours."""

    def __init__(self, b: Backend, after: datetime | None) -> None:
        self._policy = b.policy
        self._zone = b.zone
        rate = b.policy.survey_rate_per_minute
        self._gap = timedelta(minutes=1) / rate if rate > 0 else timedelta(0)
        self._last = after

    def next_slot(self, now: datetime) -> datetime:
        slot = now if self._last is None else max(now, self._last + self._gap)
        slot = quiet_hours.next_allowed(slot, self._policy.quiet_hours, self._zone)
        self._last = slot
        return slot

    def held_over(self, now: datetime, slot: datetime) -> bool:
        return quiet_hours.held_over(now, slot, self._policy.quiet_hours, self._zone)


async def pacer_for(b: Backend, *, bot_id: str, channel: str) -> Pacer:
    """A pacer that starts after the surveys this sender already has waiting in the outbox."""
    query = select(func.max(OutboxMessage.next_attempt_at)).where(
        OutboxMessage.bot_id == bot_id,
        OutboxMessage.channel == channel,
        OutboxMessage.kind == SURVEY_KIND,
        OutboxMessage.status == "pending",
    )
    latest = await b.session.scalar(query)
    return Pacer(b, latest)


def row_key(b: Backend, bot_id: str, channel: str, row: SurveyRow) -> str:
    """The same served visit gives the same key; the hash holds no phone number anyone can read back."""
    parts = (
        channel,
        row.phone,
        row.service,
        row.department,
        row.window or "",
        row.staff_name or "",
        row.served_at.isoformat() if row.served_at else "",
    )
    return b.keyring.lookup_hash("survey-row", f"{bot_id}\x1f" + "\x1f".join(parts))


async def plan_row(b: Backend, row: SurveyRow, *, bot_id: str, channel: str, pacer: Pacer) -> RowResult:
    """What sending `row` would do, writing nothing: the dry run shows exactly this."""
    if await optout.is_opted_out(b, bot_id, channel, row.phone):
        return RowResult(row.line, Outcome.OPTED_OUT)
    key = row_key(b, bot_id, channel, row)
    taken = await b.session.scalar(
        select(SurveyCampaignRow.survey_id).where(
            SurveyCampaignRow.bot_id == bot_id, SurveyCampaignRow.row_hash == key
        )
    )
    if taken is not None:
        return RowResult(row.line, Outcome.DUPLICATE, survey_id=taken)
    now = b.clock.now()
    slot = pacer.next_slot(now)
    outcome = Outcome.DEFERRED if pacer.held_over(now, slot) else Outcome.QUEUED
    return RowResult(row.line, outcome, send_at=slot)


def invalid(problem: RowProblem) -> RowResult:
    return RowResult(problem.line, Outcome.INVALID, reason=problem.reason, message=problem.message)


async def open_campaign(b: Backend, *, bot_id: str, channel: str, source: str, actor: str) -> int:
    campaign = SurveyCampaign(
        bot_id=bot_id, channel=channel, source=source[:256], actor=actor[:128], created_at=b.clock.now()
    )
    b.session.add(campaign)
    await b.session.flush()
    assert campaign.id is not None
    return campaign.id


async def close_campaign(b: Backend, campaign_id: int, summary: CampaignSummary) -> None:
    campaign = await b.session.get(SurveyCampaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise LookupError(f"no survey campaign {campaign_id}")
    campaign.summary = summary.to_json()
    campaign.finished_at = b.clock.now()


async def send_row(
    b: Backend, campaign_id: int, row: SurveyRow, *, bot_id: str, channel: str, pacer: Pacer, render: Render
) -> RowResult:
    """Plan `row` and, when it is to be sent, record its survey and queue its question."""
    planned = await plan_row(b, row, bot_id=bot_id, channel=channel, pacer=pacer)
    if planned.send_at is None:
        return planned
    try:
        # A savepoint: another run that took this row meanwhile costs this row only, not the batch.
        async with b.session.begin_nested():
            survey = await create_survey(
                b,
                bot_id=bot_id,
                channel=channel,
                address=row.phone,
                service=row.service,
                department=row.department,
                window=row.window,
                staff_name=row.staff_name,
                served_at=row.served_at,
                sent_at=planned.send_at,
            )
            b.session.add(
                SurveyCampaignRow(
                    bot_id=bot_id,
                    campaign_id=campaign_id,
                    line=row.line,
                    row_hash=row_key(b, bot_id, channel, row),
                    survey_id=survey.id,
                    created_at=b.clock.now(),
                )
            )
            conversation_id = await _conversation_id(b, bot_id, channel, row.phone)
            await _queue(b, bot_id, channel, row.phone, render(survey), planned.send_at, conversation_id)
    except IntegrityError:
        return RowResult(row.line, Outcome.DUPLICATE)
    return RowResult(row.line, planned.outcome, send_at=planned.send_at, survey_id=survey.id)


async def after_close(
    b: Backend, case: Case, *, service: str, render: Render, quiet: bool = True
) -> SurveyView | None:
    """Ask the submitter of a closed case to rate how it was handled; None when nobody is to be asked.

    Nobody is asked about a fully anonymous tip (no way back to the reporter is kept, and none is
    wanted), a case without a contact, a case asked about before, or an address that opted out.
    `quiet=False` is for channels the citizen's own client fetches from (web chat): they wake nobody,
    and they show a message at once whatever its send time says.
    """
    if case.id is None or case.status != "closed" or case.anonymous or not case.contact_enc:
        return None
    asked = await b.session.scalar(select(Survey.id).where(Survey.case_id == case.id).limit(1))
    if asked is not None:
        return None
    contact = b.keyring.decrypt_json(case.contact_enc)
    channel, address = str(contact["channel"]), str(contact["address"])
    if await optout.is_opted_out(b, case.bot_id, channel, address):
        return None
    now = b.clock.now()
    send_at = quiet_hours.next_allowed(now, b.policy.quiet_hours, b.zone) if quiet else now
    survey = await create_survey(
        b,
        bot_id=case.bot_id,
        channel=channel,
        address=address,
        service=service,
        department=case.department or "",
        case_id=case.id,
        served_at=case.closed_at,
        sent_at=send_at,
    )
    await _queue(b, case.bot_id, channel, address, render(survey), send_at, case.conversation_id)
    return survey


async def _queue(
    b: Backend,
    bot_id: str,
    channel: str,
    address: str,
    message: Outbound,
    send_at: datetime,
    conversation_id: int | None,
) -> None:
    row = await outbox.enqueue(
        b,
        bot_id=bot_id,
        channel=channel,
        address=address,
        outbound=message,
        kind=SURVEY_KIND,
        conversation_id=conversation_id,
    )
    row.next_attempt_at = send_at
    await b.session.flush()


async def _conversation_id(b: Backend, bot_id: str, channel: str, address: str) -> int:
    """The citizen's conversation, made if new, so the question shows in their history on the desk."""
    key = address_hash(b, channel, address)
    query = select(Conversation.id).where(
        Conversation.bot_id == bot_id, Conversation.channel == channel, Conversation.address_hash == key
    )
    found = await b.session.scalar(query)
    if found is not None:
        return found
    now = b.clock.now()
    conversation = Conversation(
        bot_id=bot_id,
        channel=channel,
        address_hash=key,
        address_enc=b.keyring.encrypt(address),
        state={},
        created_at=now,
        updated_at=now,
    )
    try:
        async with b.session.begin_nested():
            b.session.add(conversation)
    except IntegrityError:  # the citizen wrote in at this very moment
        found = await b.session.scalar(query)
        if found is None:
            raise
        return found
    assert conversation.id is not None
    return conversation.id
