"""Cases: a citizen submits, looks up progress with number + password; staff move the case along.

The lookup is the part an attacker sees. A case number alone reveals nothing: every answer short of
the right password is the same whether or not the number exists (same reply, same throttling, same
password-hashing work), and guessing is capped per case and per sender.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core import duplicate_index, query_passwords, throttle
from core.backend import Backend
from core.policy import CASE_KINDS
from core.receipts import format_case_number, is_well_formed_case_number, new_case_number
from storage.models import Case, CaseEvent

_NUMBER_ATTEMPTS = 8
_MAX_MERGE_HOPS = 16

# Which statuses each staff action may start from. Declining is refusing to take a case on, so it is
# only possible before work starts; closing needs an answer (reply or refusal) the citizen has seen.
_OPEN_FOR_WORK = frozenset({"submitted", "accepted", "assigned", "in_progress"})
_NO_LONGER_OPEN = frozenset({"declined", "closed"})
_ALLOWED_FROM: dict[str, frozenset[str]] = {
    "accept": frozenset({"submitted"}),
    "decline": frozenset({"submitted", "accepted"}),
    "assign": _OPEN_FOR_WORK,
    "start": frozenset({"accepted", "assigned"}),
    "reply": _OPEN_FOR_WORK | {"replied"},
    "close": frozenset({"replied", "declined"}),
}


class CaseStateError(ValueError):
    """The action makes no sense in the case's current status (e.g. replying to a closed case)."""


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Contact:
    """Where notices about the case go; only ever stored encrypted."""

    channel: str
    address: str
    conversation_id: int | None


@dataclass(frozen=True)
class CaseDraft:
    bot_id: str
    kind: str
    description: str
    department: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    anonymous: bool = False
    reporter: dict[str, str] | None = None
    contact: Contact | None = None
    subject: dict[str, Any] | None = None


@dataclass(frozen=True)
class Receipt:
    """Shown to the citizen once: the password is not stored anywhere in clear."""

    case_id: int
    number: str
    password: str
    due_on: date


class LookupOutcome(StrEnum):
    FOUND = "found"
    WRONG = "wrong"
    LOCKED = "locked"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class CaseStatus:
    number: str
    kind: str
    status: str
    department: str | None
    submitted_on: date
    due_on: date
    latest_reply: str | None
    replied_on: date | None
    merged: bool


@dataclass(frozen=True)
class LookupResult:
    outcome: LookupOutcome
    case: CaseStatus | None
    failures: int
    locked_until: datetime | None


# ---------------------------------------------------------------- submitting


async def submit(b: Backend, draft: CaseDraft) -> Receipt:
    _check_draft(draft)
    keyring = b.keyring
    now = b.clock.now()
    due_on = b.calendar.add_workdays(now.astimezone(b.zone).date(), b.policy.answer_days[draft.kind])
    password, password_hash = await query_passwords.stock_for(keyring).take()
    contact = draft.contact
    reporter_enc = keyring.encrypt_json(draft.reporter) if draft.reporter else None
    contact_enc = sender_hash = None
    if contact is not None:
        contact_enc = keyring.encrypt_json({"channel": contact.channel, "address": contact.address})
        sender_hash = keyring.lookup_hash("sender", f"{contact.channel}:{contact.address}")

    case: Case | None = None
    for _ in range(_NUMBER_ATTEMPTS):
        candidate = Case(
            number=new_case_number(),
            bot_id=draft.bot_id,
            kind=draft.kind,
            status="submitted",
            department=draft.department,
            description=draft.description,
            attachments=list(draft.attachments),
            password_hash=password_hash,
            anonymous=draft.anonymous,
            reporter_enc=reporter_enc,
            contact_enc=contact_enc,
            sender_hash=sender_hash,
            conversation_id=contact.conversation_id if contact else None,
            subject=draft.subject,
            due_on=due_on,
            created_at=now,
            updated_at=now,
        )
        try:
            # A savepoint, so a number taken meanwhile costs one retry and not the whole transaction.
            async with b.session.begin_nested():
                b.session.add(candidate)
        except IntegrityError:
            continue
        case = candidate
        break
    if case is None or case.id is None:
        raise RuntimeError("could not find a free case number")  # ~never: 9·10^10 numbers

    detail: dict[str, Any] = {"kind": draft.kind, "department": draft.department}
    if contact:
        detail["channel"] = contact.channel
    _append_event(b, case, "citizen", "submitted", detail)
    await b.session.flush()
    return Receipt(case_id=case.id, number=format_case_number(case.number), password=password, due_on=due_on)


def _check_draft(draft: CaseDraft) -> None:
    if draft.kind not in CASE_KINDS:
        raise ValueError(f"unknown case kind {draft.kind!r}")
    if not draft.description.strip():
        raise ValueError("a case needs a description")
    if draft.anonymous and (draft.reporter or draft.contact):
        # Full anonymity is a promise to the reporter: refuse rather than quietly keep a way back to them.
        raise ValueError("an anonymous case keeps neither reporter nor contact")


# ---------------------------------------------------------------- looking up


async def lookup(b: Backend, case_number: str, password: str, *, sender_key: str) -> LookupResult:
    """Progress for a citizen holding number and password; nothing at all for anyone else."""
    if not is_well_formed_case_number(case_number):
        return LookupResult(LookupOutcome.MALFORMED, None, 0, None)
    policy = b.policy
    window = timedelta(minutes=policy.lookup_window_minutes)
    lock_for = timedelta(minutes=policy.lookup_lock_minutes)
    case_key = "case:" + b.keyring.lookup_hash("case", case_number)
    sender_throttle = "sender:" + sender_key

    locks = [await throttle.locked_until(b, key) for key in (case_key, sender_throttle)]
    if any(locks):
        failures = await throttle.failures(b, case_key, window=window)
        return LookupResult(LookupOutcome.LOCKED, None, failures, max(lock for lock in locks if lock))

    case = await get_by_number(b, case_number)
    # Always hash: a missing case takes as long to refuse as a wrong password.
    matched = await asyncio.to_thread(
        b.keyring.verify_password, case.password_hash if case else None, password
    )
    if case is None or not matched:
        # The sender is not reset by a success: knowing one password must not buy more guesses at others.
        counted = await throttle.register_failures(
            b,
            {case_key: policy.lookup_lock_after, sender_throttle: policy.sender_lock_after},
            window=window,
            lock_for=lock_for,
        )
        failures = counted[case_key].failures
        locks = [counted[key].locked_until for key in (case_key, sender_throttle)]
        if any(locks):
            return LookupResult(LookupOutcome.LOCKED, None, failures, max(lock for lock in locks if lock))
        return LookupResult(LookupOutcome.WRONG, None, failures, None)

    await throttle.reset(b, case_key)
    return LookupResult(LookupOutcome.FOUND, await _status(b, case), 0, None)


async def _status(b: Backend, case: Case) -> CaseStatus:
    """What the citizen sees; for a duplicate merged into another case, the other case's progress."""
    handling = case
    hops = 0
    while handling.primary_id is not None and hops < _MAX_MERGE_HOPS:
        primary = await b.session.get(Case, handling.primary_id)
        if primary is None:
            break
        handling, hops = primary, hops + 1
    assert handling.id is not None
    reply = await _latest_public_event(b, handling.id)
    return CaseStatus(
        number=format_case_number(case.number),
        kind=case.kind,
        status=handling.status,
        department=handling.department,
        submitted_on=case.created_at.astimezone(b.zone).date(),
        due_on=handling.due_on,
        latest_reply=reply.public_text if reply else None,
        replied_on=reply.at.astimezone(b.zone).date() if reply else None,
        merged=handling is not case,
    )


async def _latest_public_event(b: Backend, case_id: int) -> CaseEvent | None:
    statement = (
        select(CaseEvent)
        .where(CaseEvent.case_id == case_id, col(CaseEvent.public_text).is_not(None))
        .order_by(col(CaseEvent.at).desc(), col(CaseEvent.id).desc())
        .limit(1)
    )
    return (await b.session.execute(statement)).scalar_one_or_none()


async def get_by_number(b: Backend, digits: str) -> Case | None:
    """By the 12 digits; hyphens and spaces as printed on the receipt are ignored."""
    number = "".join(ch for ch in digits if ch not in "- ")
    return (await b.session.execute(select(Case).where(Case.number == number))).scalar_one_or_none()


async def timeline(b: Backend, case_id: int) -> list[CaseEvent]:
    statement = (
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.at), col(CaseEvent.id))
    )
    return list((await b.session.execute(statement)).scalars())


# ---------------------------------------------------------------- staff actions


async def accept(b: Backend, case_id: int, actor: str) -> Case:
    return await _transition(b, case_id, actor, "accept", "accepted")


async def decline(b: Backend, case_id: int, actor: str, reason: str) -> Case:
    """Not taken on (不予受理); the reason is what the citizen reads."""
    reason = _required(reason, "reason")
    return await _transition(b, case_id, actor, "decline", "declined", public_text=reason)


async def assign(b: Backend, case_id: int, actor: str, department: str) -> Case:
    department = _required(department, "department")
    return await _transition(
        b, case_id, actor, "assign", "assigned", detail={"department": department}, department=department
    )


async def start(b: Backend, case_id: int, actor: str) -> Case:
    """The department has begun working on it: citizens then see 办理中 instead of 已交办."""
    return await _transition(b, case_id, actor, "start", "in_progress")


async def reply(b: Backend, case_id: int, actor: str, text: str) -> Case:
    """The official answer; a later reply supersedes it in what the citizen sees."""
    return await _transition(b, case_id, actor, "reply", "replied", public_text=_required(text, "reply"))


async def close(b: Backend, case_id: int, actor: str) -> Case:
    return await _transition(b, case_id, actor, "close", "closed", closing=True)


async def add_note(b: Backend, case_id: int, actor: str, text: str) -> CaseEvent:
    """Internal only, allowed in any status (a closed case can still collect notes)."""
    case = await _load_for_update(b, case_id)
    event = _append_event(b, case, _required(actor, "actor"), "note", {"text": _required(text, "note")})
    case.updated_at = event.at
    await b.session.flush()
    return event


# ---------------------------------------------------------------- duplicates


async def merge(b: Backend, case_id: int, *, into_id: int, actor: str) -> Case:
    """Link a duplicate to the case that handles the matter; the citizen keeps their number and password.

    Links are one level deep: merging into a duplicate links to that duplicate's primary, and merging a
    case that already has duplicates moves them along, so `primary_id` always names a case that is
    itself not merged. Refused: merging a case into itself or into one of its own duplicates, merging a
    case that is already linked elsewhere (split it first: a silent move would hide the first decision),
    and merging into or from a closed case — a closed primary takes no more work, so the duplicate's
    matter would be dropped unseen, and a closed duplicate has already had its own answer.
    """
    actor = _required(actor, "actor")
    if case_id == into_id:
        raise CaseStateError("a case cannot be merged into itself")
    # Both rows locked in id order, so two staff merging the same pair opposite ways cannot deadlock.
    locked = {row_id: await _load_for_update(b, row_id) for row_id in sorted((case_id, into_id))}
    case, target = locked[case_id], locked[into_id]
    if target.primary_id is not None:
        target = await _load_for_update(b, target.primary_id)
    assert target.id is not None
    if target.id == case_id:
        raise CaseStateError("cannot merge a case into one of its own duplicates")
    if case.primary_id == target.id:
        return case  # already where it should be: staff clicking twice changes nothing
    if case.primary_id is not None:
        raise CaseStateError("the case is already merged into another case; split it first")
    if case.status == "closed":
        raise CaseStateError("a closed case cannot be merged")
    if target.status == "closed":
        raise CaseStateError("cannot merge into a closed case")

    statement = (
        select(Case).where(Case.primary_id == case_id).order_by(col(Case.id)).with_for_update()
    ).execution_options(populate_existing=True)
    followers = list((await b.session.execute(statement)).scalars())
    now = b.clock.now()
    for moved in (case, *followers):
        moved.primary_id = target.id
        moved.updated_at = now
    target.updated_at = now
    target_number = format_case_number(target.number)
    case_number = format_case_number(case.number)
    _append_event(b, case, actor, "merged", {"role": "duplicate", "primary": target_number})
    for follower in followers:
        _append_event(
            b, follower, actor, "merged", {"role": "duplicate", "primary": target_number, "via": case_number}
        )
    primary_detail: dict[str, Any] = {"role": "primary", "duplicate": case_number}
    if followers:
        primary_detail["with"] = [format_case_number(follower.number) for follower in followers]
    _append_event(b, target, actor, "merged", primary_detail)
    await b.session.flush()
    return case


async def split(b: Backend, case_id: int, *, actor: str) -> Case:
    """Undo a wrong link: the case is handled on its own again, from the status it kept all along."""
    actor = _required(actor, "actor")
    case = await _load_for_update(b, case_id)
    if case.primary_id is None:
        raise CaseStateError("the case is not merged into another case")
    primary = await _load_for_update(b, case.primary_id)
    now = b.clock.now()
    case.primary_id = None
    case.updated_at = primary.updated_at = now
    primary_number, case_number = format_case_number(primary.number), format_case_number(case.number)
    _append_event(b, case, actor, "split", {"role": "duplicate", "primary": primary_number})
    _append_event(b, primary, actor, "split", {"role": "primary", "duplicate": case_number})
    await b.session.flush()
    return case


async def _transition(
    b: Backend,
    case_id: int,
    actor: str,
    action: str,
    new_status: str,
    *,
    public_text: str | None = None,
    detail: dict[str, Any] | None = None,
    department: str | None = None,
    closing: bool = False,
) -> Case:
    actor = _required(actor, "actor")
    case = await _load_for_update(b, case_id)
    if case.status not in _ALLOWED_FROM[action]:
        raise CaseStateError(f"cannot {action} a case that is {case.status}")
    now = b.clock.now()
    event_detail = {"from": case.status, "to": new_status, **(detail or {})}
    case.status = new_status
    case.updated_at = now
    if department is not None:
        case.department = department
    if closing:
        case.closed_at = now
    if new_status in _NO_LONGER_OPEN:
        assert case.id is not None
        await duplicate_index.forget(b, case.id)  # no later report can join a case that is done
    _append_event(b, case, actor, action, event_detail, public_text=public_text)
    await b.session.flush()
    return case


async def _load_for_update(b: Backend, case_id: int) -> Case:
    statement = (
        select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    )
    case = (await b.session.execute(statement)).scalar_one_or_none()
    if case is None:
        raise CaseNotFound(case_id)
    return case


def _append_event(
    b: Backend,
    case: Case,
    actor: str,
    action: str,
    detail: dict[str, Any],
    *,
    public_text: str | None = None,
) -> CaseEvent:
    assert case.id is not None
    event = CaseEvent(
        case_id=case.id, at=b.clock.now(), actor=actor, action=action, detail=detail, public_text=public_text
    )
    b.session.add(event)
    return event


def _required(value: str, what: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{what} must not be empty")
    return stripped
