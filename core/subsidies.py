"""Subsidy payments (惠民惠农补贴): imported records, and the citizen's query by ID number + name.

An ID number is not a secret (it is on every form a citizen fills in), so the name is the second
factor, and a wrong name must look exactly like an unknown ID: otherwise the bot would confirm who
receives benefits. Name guessing is capped per sender and per ID number.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core import throttle
from core.backend import Backend
from core.crypto import Keyring
from core.idcard import IdProblem, check_id_number, mask_account, mask_id_number, normalize_id_number
from storage.models import SubsidyRecord

_CENT = Decimal("0.01")
_SHOWN = (
    SubsidyRecord.id, SubsidyRecord.name, SubsidyRecord.programme, SubsidyRecord.year, SubsidyRecord.standard,
    SubsidyRecord.amount_cents, SubsidyRecord.paid_on, SubsidyRecord.method, SubsidyRecord.status,
    SubsidyRecord.account_masked,
)  # fmt: skip
# json.dumps with these options builds a new encoder per call; an import hashes every row with it.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Payment:
    id: int
    programme: str
    year: int
    standard: str
    amount: Decimal
    paid_on: date | None
    method: str
    status: str
    account_masked: str | None


class SubsidyOutcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    INVALID_ID = "invalid_id"
    LOCKED = "locked"


@dataclass(frozen=True)
class SubsidyResult:
    outcome: SubsidyOutcome
    payments: list[Payment]
    masked_id: str | None
    problem: IdProblem | None


def normalize_name(name: str) -> str:
    """Full-width letters and stray spaces ("张 三") are typing noise, not a different name."""
    return "".join(unicodedata.normalize("NFKC", name).split())


async def query(b: Backend, id_number: str, name: str, *, sender_key: str) -> SubsidyResult:
    number = normalize_id_number(id_number)
    problem = check_id_number(number, today=b.clock.now().astimezone(b.zone).date())
    if problem is not None:
        return SubsidyResult(SubsidyOutcome.INVALID_ID, [], None, problem)
    masked = mask_id_number(number)
    id_hash = b.keyring.lookup_hash("id_number", number)
    sender_throttle = "sender:" + sender_key
    id_throttle = "subsidy:" + id_hash
    # One round trip for both locks, and one for the rows: a lookup's latency is its round trips.
    counters = await throttle.counters(b, (sender_throttle, id_throttle))
    if any(until is not None for until in counters.values()):
        return SubsidyResult(SubsidyOutcome.LOCKED, [], masked, None)

    statement = select(*_SHOWN).where(col(SubsidyRecord.id_hash) == id_hash)
    rows = (await b.session.execute(statement)).all()  # the shown columns, not entities: no ciphertexts
    wanted = normalize_name(name)
    # Records of one person may come from different imports; only the rows under this name count.
    matching = [row for row in rows if wanted and normalize_name(row.name) == wanted]
    if not matching:
        policy = b.policy
        window = timedelta(minutes=policy.lookup_window_minutes)
        lock_for = timedelta(minutes=policy.lookup_lock_minutes)
        await throttle.register_failures(
            b,
            {sender_throttle: policy.sender_lock_after, id_throttle: policy.lookup_lock_after},
            window=window,
            lock_for=lock_for,
        )
        return SubsidyResult(SubsidyOutcome.NOT_FOUND, [], masked, None)

    if id_throttle in counters:  # earlier wrong names on this ID: a right one clears them
        await throttle.reset(b, id_throttle)
    # Newest first: by year, then payment date with unpaid (pending) rows ahead of paid ones.
    matching.sort(key=lambda row: (row.year, row.paid_on or date.max, row.id or 0), reverse=True)
    return SubsidyResult(SubsidyOutcome.FOUND, [_payment(row) for row in matching], masked, None)


async def add_record(
    b: Backend,
    *,
    id_number: str,
    name: str,
    programme: str,
    year: int,
    standard: str,
    amount: Decimal,
    paid_on: date | None,
    method: str,
    status: str,
    account: str | None = None,
    town: str | None = None,
    department: str | None = None,
    phone: str | None = None,
) -> int:
    """Store one payment; the same payment imported again returns the first row's id and adds nothing."""
    number = normalize_id_number(id_number)
    problem = check_id_number(number)
    if problem is not None:
        raise ValueError(f"invalid ID number ({problem})")
    clean_name = normalize_name(name)
    if not clean_name:
        raise ValueError("a subsidy record needs a name")
    cents = _to_cents(amount)
    compact_account = compact_account_number(account) if account else None
    keyring = b.keyring
    row_hash = payment_row_hash(
        keyring,
        id_number=number,
        name=clean_name,
        programme=programme.strip(),
        year=year,
        standard=standard.strip(),
        amount_cents=cents,
        paid_on=paid_on,
        method=method.strip(),
        status=status.strip(),
        account=compact_account,
    )
    existing = await _id_by_row_hash(b, row_hash)
    if existing is not None:
        return existing

    record = SubsidyRecord(
        id_hash=keyring.lookup_hash("id_number", number),
        id_enc=keyring.encrypt(number),
        name=clean_name,
        programme=programme.strip(),
        year=year,
        standard=standard.strip(),
        amount_cents=cents,
        paid_on=paid_on,
        method=method.strip(),
        status=status.strip(),
        account_masked=mask_account(compact_account) if compact_account else None,
        account_enc=keyring.encrypt(compact_account) if compact_account else None,
        town=town,
        department=department,
        phone_enc=keyring.encrypt(phone.strip()) if phone and phone.strip() else None,
        row_hash=row_hash,
        imported_at=b.clock.now(),
    )
    try:
        async with b.session.begin_nested():
            b.session.add(record)
    except IntegrityError:
        # The same row imported concurrently by another transaction.
        existing = await _id_by_row_hash(b, row_hash)
        if existing is None:
            raise
        return existing
    assert record.id is not None
    return record.id


def compact_account_number(account: str) -> str:
    """Bank account numbers are printed in groups ("6217 0038 ..."); the digits are what count."""
    return "".join(account.split()).replace("-", "")


def payment_row_hash(
    keyring: Keyring,
    *,
    id_number: str,
    name: str,
    programme: str,
    year: int,
    standard: str,
    amount_cents: int,
    paid_on: date | None,
    method: str,
    status: str,
    account: str | None,
) -> str:
    """What makes two rows the same payment, keyed: one definition for single adds and bulk imports.

    Values come normalised (ID number upper-case, name without spaces, account compacted, texts
    stripped), so a re-export of the same list with other spacing is still the same payments.
    """
    canonical = _CANONICAL.encode(
        [
            id_number,
            name,
            programme,
            year,
            standard,
            amount_cents,
            paid_on.isoformat() if paid_on else None,
            method,
            status,
            account,
        ]
    )
    return keyring.lookup_hash("subsidy_row", canonical)


async def get_payment(b: Backend, payment_id: int) -> Payment | None:
    row = await b.session.get(SubsidyRecord, payment_id)
    return _payment(row) if row else None


async def _id_by_row_hash(b: Backend, row_hash: str) -> int | None:
    statement = select(SubsidyRecord.id).where(SubsidyRecord.row_hash == row_hash)
    return (await b.session.execute(statement)).scalar_one_or_none()


def _to_cents(amount: Decimal) -> int:
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a payable amount: {amount}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"amount has fractions of a cent: {amount}")
    return int(cents)


def _payment(row: SubsidyRecord | Row[Any]) -> Payment:
    assert row.id is not None
    return Payment(
        id=row.id,
        programme=row.programme,
        year=row.year,
        standard=row.standard,
        amount=(Decimal(row.amount_cents) / 100).quantize(_CENT),
        paid_on=row.paid_on,
        method=row.method,
        status=row.status,
        account_masked=row.account_masked,
    )
