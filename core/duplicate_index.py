"""The lookup half of duplicate detection: which open cases could possibly repeat a new report.

Comparing a new report with every open case would cost a fuzzy match per case; at a million cases
that is minutes. Instead each open case's character bigrams sit in an indexed table, stamped with a
scope (bot, kind, department) and the submission time, and the few cases sharing the most telling
bigrams with the new text are looked up. Only those few are scored.

Telling, because with many open cases most bigrams say nothing: thousands of street-light complaints
share "路灯" and "维修", and counting every case behind every bigram cost a second per submission at
100,000 cases. What names the matter — the village, the road, the company — is in bigrams few cases
have. So each bigram's postings are read only up to `COMMON_AT`; a bigram with more is dropped from
the count, and the cases are ranked by the rare bigrams they share: at most `PROBED_GRAMS × COMMON_AT`
index entries read however many cases there are, and with few cases, where every bigram is rare, the
plain count it replaced. A text with no rare bigram at all is looked up by its least common few,
counted in full (`FEW_AT`, `LEAST_COMMON`), and only a text whose every bigram is everywhere falls
back to counting all of them.

Cases by the same person are found by keyed hashes of who submitted them (a channel address, a
phone number), so the person behind them stays as unreadable here as in the cases table.

This module knows no scoring and no case rules, so `core.cases` can drop a closed case from the index
without importing the detector.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    union_all,
)
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


# A bigram in more open cases of one scope than this tells no matter from another ("路灯", "工资").
COMMON_AT = 200
# When no bigram is telling, the `LEAST_COMMON` rarest with at most `FEW_AT` cases are counted in full.
FEW_AT = 2_000
LEAST_COMMON = 8
# Of a long text, the bigrams looked up: chosen by a hash of their content, so that two texts sharing
# most of their wording choose mostly the same ones.
PROBED_GRAMS = 64


# Stands in for missing bigrams so every look-up has the same shape; no text has an empty bigram.
_NO_GRAM = ""


def _content_order(gram: str) -> int:
    return zlib.crc32(gram.encode("utf-8"))


def _gram_values(grams: list[str], *, scope: str, since: datetime) -> dict[str, Any]:
    """The look-up's parameters, padded to `PROBED_GRAMS` bigrams.

    One statement of one shape, compiled once per process: with a statement per bigram count, each
    count's first use compiled 64 sub-selects anew, 50–180 ms, and that first use was the p95.
    """
    values: dict[str, Any] = {"scope": scope, "since": since}
    values.update((f"gram{index}", gram) for index, gram in enumerate(grams))
    values.update((f"gram{index}", _NO_GRAM) for index in range(len(grams), PROBED_GRAMS))
    return values


@functools.cache
def _postings() -> CompoundSelect:
    """The look-up for `PROBED_GRAMS` bigrams (padded by `_gram_values`), built once: building 64
    sub-selects anew cost more than running them.

    Each bigram's postings come from the (scope, gram, created_at, case_id) index alone, newest first,
    at most `COMMON_AT + 1` of them, and come back as one row: how many, and the case ids joined by
    commas. Up to 12,800 postings as rows of their own took four times as long to hand over and count
    as the index took to read them, and counting them in SQL (a window per bigram, grouping) longer.
    """
    parts = []
    for index in range(PROBED_GRAMS):
        newest = (
            select(CaseGram.case_id)
            .where(
                col(CaseGram.scope) == bindparam("scope"),
                col(CaseGram.gram) == bindparam(f"gram{index}"),
                col(CaseGram.created_at) >= bindparam("since"),
            )
            .order_by(col(CaseGram.created_at).desc())
            .limit(COMMON_AT + 1)
            .subquery(f"postings{index}")
        )
        # The comma written into the statement: as a parameter it is spliced in on every run (50 µs a
        # bigram), since SQLAlchemy binds the separator at execution.
        cases = func.aggregate_strings(cast(newest.c.case_id, String), literal_column("','"))
        parts.append(select(func.count().label("postings"), cases.label("cases")))
    return union_all(*parts)


@functools.cache
def _posting_counts() -> CompoundSelect:
    """How many cases have each of `PROBED_GRAMS` bigrams, counting no further than `FEW_AT + 1`."""
    parts = [
        select(literal_column(str(index)).label("position"), func.count().label("cases")).select_from(
            select(CaseGram.case_id)
            .where(
                col(CaseGram.scope) == bindparam("scope"),
                col(CaseGram.gram) == bindparam(f"gram{index}"),
                col(CaseGram.created_at) >= bindparam("since"),
            )
            .limit(FEW_AT + 1)
            .subquery(f"counted{index}")
        )
        for index in range(PROBED_GRAMS)
    ]
    return union_all(*parts)


async def _least_common(b: Backend, *, scope: str, grams: list[str], since: datetime) -> list[str]:
    """Up to `LEAST_COMMON` of these bigrams with no more than `FEW_AT` cases each, the rarest first."""
    values = _gram_values(grams, scope=scope, since=since)
    counts = (await b.session.execute(_posting_counts(), values)).all()
    few = sorted(
        (int(cases), grams[int(position)])
        for position, cases in counts
        if int(position) < len(grams) and 0 < int(cases) <= FEW_AT
    )
    return [gram for _, gram in few[:LEAST_COMMON]]


async def sharing_grams(
    b: Backend, *, scope: str, grams: Collection[str], since: datetime, min_share: float, limit: int
) -> list[tuple[int, int]]:
    """(case id, telling bigrams shared) of the cases in scope since `since` sharing the most, best first.

    A case must share at least `min_share` of the telling bigrams the index has. A text with none, only
    common ones (stock phrases, or a county whose few villages fill thousands of template complaints),
    is looked up by its least common bigrams counted in full; one whose bigrams are all everywhere has
    every bigram counted over all its postings: exact, and slow with many cases.
    """
    if not grams:
        return []
    probed = sorted(grams, key=_content_order)[:PROBED_GRAMS]
    values = _gram_values(probed, scope=scope, since=since)
    shared: Counter[str] = Counter()
    telling = read = 0
    for postings, cases in (await b.session.execute(_postings(), values)).all():
        read += postings
        if 0 < postings <= COMMON_AT:
            telling += 1
            shared.update(cases.split(","))
    if not telling and read:
        # Only common bigrams: the least common few, counted in full, still single out a matter (a
        # village among hundreds); only when even those are everywhere is every bigram counted.
        counted = await _least_common(b, scope=scope, grams=probed, since=since) or list(grams)
        at_least = max(1, int(len(counted) * min_share))
        return await _sharing_all(b, scope=scope, grams=counted, since=since, at_least=at_least, limit=limit)
    at_least = max(1, int(telling * min_share))
    ranked = sorted(
        ((int(case_id), count) for case_id, count in shared.items() if count >= at_least),
        key=lambda item: (-item[1], item[0]),
    )
    return ranked[:limit]


async def _sharing_all(
    b: Backend, *, scope: str, grams: Collection[str], since: datetime, at_least: int, limit: int
) -> list[tuple[int, int]]:
    """Every bigram counted over all its postings: exact, and as slow as the cases are many."""
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
