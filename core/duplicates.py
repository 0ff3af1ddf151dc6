"""Repeated petitions (一信多投 / 重复信访): a new report of a matter already open joins that case.

Two ways to be a repeat, within the policy's window:
- the same person (same channel address, or the same phone on any channel) tells the matter again,
  perhaps in other words and perhaps to another department — that is what 一信多投 is;
- anyone sends near-identical text to the same department about the same kind of matter.
A fully anonymous tip has no person to recognise, so only its text can link it.

The citizen still gets their own number and password; looking them up shows the primary case's
progress (see `core.cases.lookup`). Staff undo a wrong link with `core.cases.split`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlmodel import col

from core import cases
from core.backend import Backend
from core.cases import CaseDraft, CaseStateError, Receipt
from core.duplicate_index import Entry, by_people, remember, scope_of, sharing_grams
from core.likeness import Fingerprint, fingerprint, similarity
from core.receipts import format_case_number
from storage.models import Case

OPEN_STATUSES = frozenset({"submitted", "accepted", "assigned", "in_progress", "replied"})
SYSTEM_ACTOR = "system:duplicates"
# Of the new text's telling bigrams, the share a case must have in common to be worth scoring at all.
MIN_SHARED_GRAMS = 0.3

# What scoring a candidate reads of it: columns, not whole cases, which took longer to build than to score.
_SCORED = (Case.id, Case.number, Case.status, Case.primary_id, Case.description)

_MAINLAND_MOBILE = re.compile(r"(?:86)?(1[3-9]\d{9})")


@dataclass(frozen=True)
class Match:
    """The open case a new report repeats."""

    case_id: int
    number: str  # formatted, as on a receipt
    score: float
    same_person: bool  # found as the same person's case: only then may its number be shown to them


@dataclass(frozen=True)
class Search:
    match: Match | None
    examined: int  # cases scored: stays small however many cases there are


@dataclass(frozen=True)
class Filed:
    receipt: Receipt
    linked: Match | None


def person_keys(b: Backend, draft: CaseDraft) -> set[str]:
    """Keyed hashes naming who submits: the channel address, and every mainland mobile known for them.

    A named tip's phone and the number an SMS came from name one person across channels.
    """
    keys: set[str] = set()
    phones: set[str] = set()
    if draft.contact is not None:
        keys.add(b.keyring.lookup_hash("person", f"address:{draft.contact.channel}:{draft.contact.address}"))
        if draft.contact.channel == "sms":
            phones.add(draft.contact.address)
    if draft.reporter and draft.reporter.get("phone"):
        phones.add(draft.reporter["phone"])
    for phone in phones:
        mobile = _MAINLAND_MOBILE.fullmatch("".join(ch for ch in phone if ch.isdigit()))
        if mobile:
            keys.add(b.keyring.lookup_hash("person", f"phone:{mobile.group(1)}"))
    return keys


async def search(b: Backend, draft: CaseDraft) -> Search:
    """The open case this draft repeats, if any; nothing is written."""
    return await _search(b, draft, fingerprint(draft.description), person_keys(b, draft))


async def _search(b: Backend, draft: CaseDraft, text_print: Fingerprint, people: set[str]) -> Search:
    if not text_print:
        return Search(None, 0)
    policy = b.policy
    since = b.clock.now() - timedelta(days=policy.duplicate_window_days)
    by_text: list[int] = []
    if len(text_print.text) >= policy.duplicate_min_chars:
        shared = await sharing_grams(
            b,
            scope=scope_of(draft.bot_id, draft.kind, draft.department),
            grams=text_print.grams,
            since=since,
            min_share=MIN_SHARED_GRAMS,
            limit=policy.duplicate_candidates,
        )
        by_text = [case_id for case_id, _ in shared]
    by_person = set(
        await by_people(b, bot_id=draft.bot_id, people=people, since=since, limit=policy.duplicate_candidates)
    )
    ids = set(by_text) | by_person
    if not ids:
        return Search(None, 0)

    rows = {row.id: row for row in (await b.session.execute(select(*_SCORED).where(col(Case.id).in_(ids))))}
    primaries = await _primaries(b, rows.values())
    best: tuple[float, Row[Any], float, bool] | None = None  # (margin over threshold, primary, score, person)
    for case_id in sorted(ids):
        row = rows.get(case_id)
        primary = primaries.get(case_id)
        if row is None or primary is None or primary.status not in OPEN_STATUSES:
            continue
        same_person = case_id in by_person
        threshold = policy.duplicate_sender_threshold if same_person else policy.duplicate_threshold
        score = similarity(text_print, fingerprint(row.description))
        margin = score - threshold
        if margin >= 0 and (best is None or margin > best[0]):
            best = (margin, primary, score, same_person)
    if best is None:
        return Search(None, len(ids))
    _, primary, score, same_person = best
    assert primary.id is not None
    return Search(Match(primary.id, format_case_number(primary.number), score, same_person), len(ids))


async def _primaries(b: Backend, rows: Iterable[Row[Any]]) -> dict[int, Row[Any]]:
    """Each candidate's handling case: itself, or the primary it was merged into (links are one deep)."""
    found: dict[int, Row[Any]] = {}
    wanted: dict[int, list[int]] = {}
    for row in rows:
        assert row.id is not None
        if row.primary_id is None:
            found[row.id] = row
        else:
            wanted.setdefault(row.primary_id, []).append(row.id)
    if wanted:
        statement = select(*_SCORED).where(col(Case.id).in_(wanted))
        for primary in await b.session.execute(statement):
            assert primary.id is not None
            for case_id in wanted[primary.id]:
                found[case_id] = primary
    return found


async def submit(b: Backend, draft: CaseDraft) -> Filed:
    """Submit the case, index it, and link it to the open case it repeats, all in the caller's transaction."""
    text_print = fingerprint(draft.description)
    people = person_keys(b, draft)
    found = await _search(b, draft, text_print, people)
    receipt = await cases.submit(b, draft)
    await remember(
        b,
        Entry(
            case_id=receipt.case_id,
            bot_id=draft.bot_id,
            scope=scope_of(draft.bot_id, draft.kind, draft.department),
            created_at=b.clock.now(),
            grams=text_print.grams,
            people=people,
        ),
    )
    match = found.match
    if match is None:
        return Filed(receipt, None)
    try:
        await cases.merge(b, receipt.case_id, into_id=match.case_id, actor=SYSTEM_ACTOR)
    except CaseStateError:
        # Closed by staff in the moment since the search: the report simply stands on its own.
        return Filed(receipt, None)
    return Filed(receipt, match)
