"""A SQLite database of many open cases, written in bulk, exactly as filing them one by one would leave it.

Filing a million cases through `core.duplicates.submit` would take hours (a password hash and a
duplicate search each). This writes the same rows — the case, its "submitted" event, its bigrams and
its submitters in the duplicate index — straight into the migrated schema with executemany, converting
every value with the column types' own bind processors so the stored text is the one SQLAlchemy
would store. What cannot be the same is random in the real path too: case numbers, and one password
hash (of a password nobody knows) shared by all. `tests/benchmarks/test_casebase.py` checks a small
build against the real path row by row.

The built file is cached under `.bench/`, keyed on the corpus and builder versions, so a changed
generator rebuilds and an unchanged one costs nothing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite as sqlite_dialect

from benchmarks import corpus
from benchmarks.corpus import Filing
from core.backend import Backend
from core.cases import CaseDraft, Contact
from core.clock import FixedClock
from core.crypto import Keyring
from core.duplicate_index import scope_of
from core.duplicates import person_keys
from core.likeness import fingerprint
from core.policy import Policy
from core.receipts import CASE_NUMBER_LENGTH, _luhn_check_digit
from core.workdays import WorkCalendar
from storage.database import Database
from storage.duplicate_models import CaseGram, CasePerson
from storage.models import Case, CaseEvent

# Bump when what a build writes changes; the cache key also carries the corpus version.
VERSION = "casebase-1"
BOT_ID = "county"
# "Now" of every benchmark: the cases were filed in the window before it.
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SECRET = "benchmark-secret-not-for-production-0123456789"
CACHE = Path(__file__).resolve().parent.parent / ".bench"
_CHUNK = 5_000
_Row = dict[str, Any]
_Index = tuple[int, str, str, datetime]
_LOOKUP_INDEX = "ix_case_ngrams_postings"


def keyring() -> Keyring:
    return Keyring(SECRET, password_cost="fast")


def draft_of(filing: Filing) -> CaseDraft:
    """What a channel hands the case layer for this filing (web chat, SMS, WeChat, Telegram)."""
    contact = Contact(filing.channel, filing.sender, None) if filing.sender else None
    return CaseDraft(
        bot_id=BOT_ID,
        kind=filing.kind,
        description=filing.text,
        department=filing.department,
        anonymous=contact is None and filing.kind == "tip",
        contact=contact,
    )


def filed_at(filing: Filing) -> datetime:
    return NOW - timedelta(days=filing.age_days)


def cache_path(n: int) -> Path:
    return CACHE / f"cases-{n}-{corpus.VERSION}-{VERSION}.db"


def _converters(table: Table) -> dict[str, Callable[[Any], Any]]:
    """Per column, what SQLAlchemy does to a Python value before SQLite stores it."""
    dialect = sqlite_dialect.dialect()
    found: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        found[column.name] = processor if processor is not None else (lambda value: value)
    return found


class _Writer:
    """Inserts dict rows into one table with the column types' conversions, through one sqlite3 cursor."""

    def __init__(self, connection: sqlite3.Connection, table: Table) -> None:
        self.connection = connection
        self.names = [column.name for column in table.columns]
        self.convert = _converters(table)
        marks = ", ".join("?" for _ in self.names)
        self.sql = f"INSERT INTO {table.name} ({', '.join(self.names)}) VALUES ({marks})"

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        convert, names = self.convert, self.names
        # A case's bigram rows share one datetime object: convert it once, not once per bigram.
        last: dict[str, tuple[Any, Any]] = {}

        def value(name: str, raw: Any) -> Any:
            seen = last.get(name)
            if seen is not None and seen[0] is raw:
                return seen[1]
            stored = convert[name](raw)
            last[name] = (raw, stored)
            return stored

        converted = ([value(name, row.get(name)) for name in names] for row in rows)
        self.connection.executemany(self.sql, converted)

    def write_index(self, rows: Iterable[tuple[int, str, str, datetime]]) -> None:
        """Rows of an index table (case id, term, text column, created_at), in that column order.

        Tens of millions of bigram rows: only the timestamp needs converting, once per case.
        """
        assert self.names[0] == "case_id" and self.names[3] == "created_at" and len(self.names) == 4
        to_stored = self.convert["created_at"]
        stored: dict[datetime, Any] = {}

        def converted(row: tuple[int, str, str, datetime]) -> tuple[int, str, str, Any]:
            when = row[3]
            if when not in stored:
                stored.clear()
                stored[when] = to_stored(when)
            return (row[0], row[1], row[2], stored[when])

        self.connection.executemany(self.sql, map(converted, rows))


def _case_number(serial: int) -> str:
    """A well-formed number like `core.receipts.new_case_number`'s, unique by construction."""
    payload = f"{1 + serial % 9}{serial:0{CASE_NUMBER_LENGTH - 2}d}"
    return payload + _luhn_check_digit(payload)


class _Rows:
    """The rows filing one case writes (see `core.cases.submit` and `core.duplicates.submit`)."""

    def __init__(self) -> None:
        self.keyring = keyring()
        self.policy = Policy()
        self.calendar = WorkCalendar(
            extra_holidays=self.policy.extra_holidays, extra_workdays=self.policy.extra_workdays
        )
        # person_keys only reads the keyring; there is no session to give it.
        self.backend = Backend(
            session=cast(Any, None),
            keyring=self.keyring,
            clock=FixedClock(NOW),
            policy=self.policy,
            calendar=self.calendar,
        )
        self.password_hash = self.keyring.hash_password(secrets.token_urlsafe(16))
        self._due: dict[tuple[date, str], date] = {}

    def due_on(self, when: datetime, kind: str) -> date:
        day = when.astimezone(self.backend.zone).date()
        key = (day, kind)
        if key not in self._due:
            self._due[key] = self.calendar.add_workdays(day, self.policy.answer_days[kind])
        return self._due[key]

    def of(self, case_id: int, filing: Filing) -> tuple[_Row, _Row, list[_Index], list[_Index]]:
        draft = draft_of(filing)
        when = filed_at(filing)
        contact = draft.contact
        case = {
            "id": case_id,
            "number": _case_number(case_id),
            "bot_id": draft.bot_id,
            "kind": draft.kind,
            "status": "submitted",
            "department": draft.department,
            "description": draft.description,
            "attachments": [],
            "password_hash": self.password_hash,
            "anonymous": draft.anonymous,
            "reporter_enc": None,
            "contact_enc": self.keyring.encrypt_json({"channel": contact.channel, "address": contact.address})
            if contact
            else None,
            "sender_hash": self.keyring.lookup_hash("sender", f"{contact.channel}:{contact.address}")
            if contact
            else None,
            "conversation_id": None,
            "subject": None,
            "primary_id": None,
            "due_on": self.due_on(when, draft.kind),
            "created_at": when,
            "updated_at": when,
            "closed_at": None,
        }
        detail: dict[str, Any] = {"kind": draft.kind, "department": draft.department}
        if contact:
            detail["channel"] = contact.channel
        event = {"case_id": case_id, "at": when, "actor": "citizen", "action": "submitted", "detail": detail,
                 "public_text": None}
        scope = scope_of(draft.bot_id, draft.kind, draft.department)
        # In the tables' column order: (case_id, gram, scope, created_at), (case_id, person, bot_id, ...).
        grams = [(case_id, gram, scope, when) for gram in sorted(fingerprint(draft.description).grams)]
        who = sorted(person_keys(self.backend, draft))
        people = [(case_id, person, draft.bot_id, when) for person in who]
        return case, event, grams, people


async def _migrate(path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.upgrade()
    finally:
        await database.dispose()


def build(path: Path, filings: Sequence[Filing], *, progress: bool = False) -> None:
    """Write `filings` (oldest first) as open cases 1..n into a new, migrated SQLite file at `path`."""
    if path.exists():
        path.unlink()
    asyncio.run(_migrate(path))
    rows = _Rows()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-400000")
        # Filled in id order, the lookup index would be written at random: build it once at the end.
        found = connection.execute("SELECT sql FROM sqlite_master WHERE name = ?", (_LOOKUP_INDEX,))
        (index_sql,) = found.fetchone()
        connection.execute(f"DROP INDEX {_LOOKUP_INDEX}")
        tables = (Case.__table__, CaseEvent.__table__, CaseGram.__table__, CasePerson.__table__)
        writers = [_Writer(connection, cast(Table, table)) for table in tables]
        began = time.perf_counter()
        connection.execute("BEGIN")
        for start in range(0, len(filings), _CHUNK):
            chunk = filings[start : start + _CHUNK]
            made = [rows.of(start + offset + 1, filing) for offset, filing in enumerate(chunk)]
            writers[0].write(case for case, _, _, _ in made)
            writers[1].write(event for _, event, _, _ in made)
            writers[2].write_index(gram for _, _, grams, _ in made for gram in grams)
            writers[3].write_index(person for _, _, _, people in made for person in people)
            if progress and (start // _CHUNK) % 20 == 0:
                seconds = time.perf_counter() - began
                done = start + len(made)
                print(f"   built {done}/{len(filings)} cases, {seconds:.0f} s", file=sys.stderr, flush=True)
        connection.execute(index_sql)
        connection.execute("COMMIT")
    finally:
        connection.close()


def cached(n: int, filings: Sequence[Filing]) -> Path:
    """The cached build of these n filings, made first if missing (to a temporary name, then renamed)."""
    path = cache_path(n)
    if path.exists():
        # Built under an older schema perhaps: migrated as a deployment would be (slow only once).
        asyncio.run(_migrate(path))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".partial-{os.getpid()}")
    began = time.perf_counter()
    print(f"   building {n} open cases into {path.name} (cached afterwards)", file=sys.stderr, flush=True)
    build(partial, filings, progress=True)
    partial.rename(path)
    print(f"   built in {time.perf_counter() - began:.0f} s, {path.stat().st_size / 1e6:.0f} MB",
          file=sys.stderr, flush=True)
    return path
