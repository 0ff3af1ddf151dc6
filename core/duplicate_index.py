"""The lookup half of duplicate detection: which open cases could possibly repeat a new report.

Comparing a new report with every open case would cost a fuzzy match per case; at a million cases
that is minutes. Instead each open case's character bigrams sit in an indexed table, stamped with a
scope (bot, kind, department) and the submission time, and one GROUP BY returns the few cases that
share the most bigrams with the new text. Only those few are scored.

Cases by the same person are found by keyed hashes of who submitted them (a channel address, a
phone number), so the person behind them stays as unreadable here as in the cases table.

This module knows no scoring and no case rules, so `core.cases` can drop a closed case from the index
without importing the detector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlmodel import col

from core.backend import Backend
from storage.duplicate_models import CaseGram, CasePerson


def scope_of(bot_id: str, kind: str, department: str | None) -> str:
    """A short fixed-width key for "same bot, kind and department": not a secret, just compact."""
    joined = "\x1f".join((bot_id, kind, department or ""))
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Entry:
    """What the index keeps of one case."""

    case_id: int
    bot_id: str
    scope: str
    created_at: datetime
    grams: Collection[str]
    people: Collection[str]


async def remember(b: Backend, entry: Entry) -> None:
    if entry.grams:
        await b.session.execute(
            insert(CaseGram),
            [
                {"case_id": entry.case_id, "gram": gram, "scope": entry.scope, "created_at": entry.created_at}
                for gram in sorted(entry.grams)
            ],
        )
    if entry.people:
        await b.session.execute(
            insert(CasePerson),
            [
                {
                    "case_id": entry.case_id,
                    "person": person,
                    "bot_id": entry.bot_id,
                    "created_at": entry.created_at,
                }
                for person in sorted(entry.people)
            ],
        )


async def forget(b: Backend, case_id: int) -> None:
    """A case that is no longer open can be no one's primary: its bigrams only crowd the look-ups.

    Who submitted it stays: that table is small, and a person's closed case is filtered when read.
    """
    await b.session.execute(delete(CaseGram).where(col(CaseGram.case_id) == case_id))


async def sharing_grams(
    b: Backend, *, scope: str, grams: Collection[str], since: datetime, at_least: int, limit: int
) -> list[tuple[int, int]]:
    """(case id, bigrams shared) of the cases in scope since `since` sharing the most, best first."""
    if not grams:
        return []
    shared = func.count().label("shared")
    statement = (
        select(CaseGram.case_id, shared)
        .where(
            col(CaseGram.scope) == scope,
            col(CaseGram.gram).in_(sorted(grams)),
            col(CaseGram.created_at) >= since,
        )
        .group_by(col(CaseGram.case_id))
        .having(func.count() >= at_least)
        .order_by(shared.desc(), col(CaseGram.case_id))
        .limit(limit)
    )
    return [(int(case_id), int(count)) for case_id, count in (await b.session.execute(statement)).all()]


async def by_people(
    b: Backend, *, bot_id: str, people: Collection[str], since: datetime, limit: int
) -> list[int]:
    """Cases submitted since `since` by any of these people, newest first."""
    if not people:
        return []
    newest = func.max(CasePerson.created_at).label("newest")
    statement = (
        select(CasePerson.case_id, newest)
        .where(
            col(CasePerson.person).in_(sorted(people)),
            col(CasePerson.bot_id) == bot_id,
            col(CasePerson.created_at) >= since,
        )
        .group_by(col(CasePerson.case_id))
        .order_by(newest.desc(), col(CasePerson.case_id).desc())
        .limit(limit)
    )
    return [int(case_id) for case_id, _ in (await b.session.execute(statement)).all()]
