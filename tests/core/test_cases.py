from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import cases, throttle
from core.backend import Backend
from core.cases import CaseDraft, CaseStateError, Contact, LookupOutcome
from core.clock import FixedClock
from core.receipts import new_case_number
from storage.models import Case, Throttle

ADDRESS = "+8613800138000"


def draft(**changes: Any) -> CaseDraft:
    values: dict[str, Any] = {
        "bot_id": "county",
        "kind": "complaint",
        "description": "路灯坏了三个星期",
        "department": "住建局",
        "reporter": {"name": "王芳", "phone": "13900139000"},
        "contact": Contact(channel="sms", address=ADDRESS, conversation_id=None),
    }
    values.update(changes)
    return CaseDraft(**values)


def sender(backend: Backend, who: str = ADDRESS) -> str:
    return backend.keyring.lookup_hash("sender", f"sms:{who}")


def digits(formatted: str) -> str:
    return formatted.replace("-", "")


class VerifySpy:
    """Counts password checks and what they were checked against."""

    def __init__(self, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str | None] = []
        original = backend.keyring.verify_password

        def spy(hashed: str | None, password: str) -> bool:
            self.calls.append(hashed)
            return original(hashed, password)

        monkeypatch.setattr(backend.keyring, "verify_password", spy)


# ---------------------------------------------------------------- submit


async def test_submit_returns_a_receipt_and_stores_no_secret_in_clear(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    assert len(receipt.number) == 14 and receipt.number[4] == "-" == receipt.number[9]
    assert len(receipt.password) == 8 and receipt.password.isdigit()

    case = await cases.get_by_number(backend, digits(receipt.number))
    assert case is not None and case.id == receipt.case_id
    assert case.status == "submitted" and case.kind == "complaint" and case.department == "住建局"
    row_text = " ".join(str(value) for value in case.model_dump().values())
    for secret in (receipt.password, ADDRESS, "13800138000", "13900139000", "王芳"):
        assert secret not in row_text
    assert case.password_hash.startswith("$argon2id$")
    assert backend.keyring.verify_password(case.password_hash, receipt.password)
    assert backend.keyring.decrypt_json(case.reporter_enc or "") == {"name": "王芳", "phone": "13900139000"}
    assert backend.keyring.decrypt_json(case.contact_enc or "") == {"channel": "sms", "address": ADDRESS}
    assert case.sender_hash == sender(backend)

    events = await cases.timeline(backend, receipt.case_id)
    assert [(e.actor, e.action) for e in events] == [("citizen", "submitted")]
    assert ADDRESS not in str(events[0].detail)


async def test_due_date_counts_working_days_from_the_local_date(backend: Backend, clock: FixedClock) -> None:
    # Monday 2 March 2026, 09:00 in Beijing: 5 working days for a question → Monday 9 March.
    receipt = await cases.submit(backend, draft(kind="question"))
    assert receipt.due_on == date(2026, 3, 9)
    # 17:30 UTC on Sunday is already 01:30 on Monday in Beijing: counted from Monday, not Sunday.
    clock.set(datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
    receipt = await cases.submit(backend, draft(kind="question"))
    assert receipt.due_on == date(2026, 3, 9)
    # Filed the day before National Day: 1–7 Oct do not count, Saturday 10 Oct (调休) does.
    clock.set(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))
    receipt = await cases.submit(backend, draft(kind="complaint"))
    assert receipt.due_on == backend.calendar.add_workdays(date(2026, 9, 30), 15) == date(2026, 10, 27)


async def test_anonymous_tip_keeps_no_way_back_to_the_reporter(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft(kind="tip", anonymous=True, reporter=None, contact=None))
    case = await cases.get_by_number(backend, digits(receipt.number))
    assert case is not None and case.anonymous
    assert case.reporter_enc is None and case.contact_enc is None
    assert case.sender_hash is None and case.conversation_id is None


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "praise"},
        {"description": "   "},
        {"anonymous": True},  # still has reporter and contact
        {"anonymous": True, "reporter": None},  # still has contact
    ],
)
async def test_bad_drafts_are_refused(backend: Backend, changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        await cases.submit(backend, draft(**changes))


async def test_a_taken_number_is_retried(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    first = await cases.submit(backend, draft())
    fresh = new_case_number()
    numbers = iter([digits(first.number), digits(first.number), fresh])
    monkeypatch.setattr(cases, "new_case_number", lambda: next(numbers))
    second = await cases.submit(backend, draft(description="另一件事"))
    assert digits(second.number) == fresh
    assert len((await backend.session.execute(select(Case))).scalars().all()) == 2


async def test_get_by_number_accepts_the_printed_form(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    found = await cases.get_by_number(backend, receipt.number)
    assert found is not None and found.id == receipt.case_id
    assert await cases.get_by_number(backend, new_case_number()) is None


# ---------------------------------------------------------------- lookup


async def test_right_password_shows_the_status(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    result = await cases.lookup(backend, digits(receipt.number), receipt.password, sender_key=sender(backend))
    assert result.outcome is LookupOutcome.FOUND
    assert result.failures == 0 and result.locked_until is None
    status = result.case
    assert status is not None
    assert status.number == receipt.number and status.kind == "complaint" and status.status == "submitted"
    assert status.department == "住建局"
    assert status.submitted_on == date(2026, 3, 2) and status.due_on == receipt.due_on
    assert status.latest_reply is None and status.replied_on is None and not status.merged


async def test_malformed_number_costs_nothing(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = VerifySpy(backend, monkeypatch)

    async def no_database(*args: object, **kwargs: object) -> None:
        raise AssertionError("a malformed number must not reach the database")

    monkeypatch.setattr(backend.session, "execute", no_database)
    monkeypatch.setattr(backend.session, "get", no_database)
    good = new_case_number()
    typo = good[:-1] + str((int(good[-1]) + 1) % 10)
    result = await cases.lookup(backend, typo, "12345678", sender_key=sender(backend))
    assert result.outcome is LookupOutcome.MALFORMED
    assert result.case is None and result.failures == 0 and result.locked_until is None
    assert spy.calls == []


async def test_unknown_number_and_wrong_password_look_the_same(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    receipt = await cases.submit(backend, draft())
    spy = VerifySpy(backend, monkeypatch)
    wrong = "00000000" if receipt.password != "00000000" else "11111111"
    existing = await cases.lookup(backend, digits(receipt.number), wrong, sender_key=sender(backend, "a"))
    unknown = await cases.lookup(backend, new_case_number(), wrong, sender_key=sender(backend, "b"))
    assert existing == unknown
    assert existing.outcome is LookupOutcome.WRONG and existing.failures == 1 and existing.case is None
    # The password was checked both times; against the dummy (None) for the unknown number.
    assert len(spy.calls) == 2 and spy.calls[0] is not None and spy.calls[1] is None


async def test_fifth_failure_locks_the_case_for_an_hour(backend: Backend, clock: FixedClock) -> None:
    receipt = await cases.submit(backend, draft())
    number = digits(receipt.number)
    wrong = str((int(receipt.password) + 1) % 10**8).zfill(8)
    for expected in range(1, 5):
        result = await cases.lookup(backend, number, wrong, sender_key=sender(backend))
        assert (result.outcome, result.failures, result.locked_until) == (LookupOutcome.WRONG, expected, None)
    result = await cases.lookup(backend, number, wrong, sender_key=sender(backend))
    assert result.outcome is LookupOutcome.LOCKED and result.failures == 5
    assert result.locked_until == clock.now() + timedelta(minutes=60)

    # Locked for everyone, right password or not, from any sender.
    clock.advance(minutes=59)
    result = await cases.lookup(backend, number, receipt.password, sender_key=sender(backend, "other"))
    assert result.outcome is LookupOutcome.LOCKED and result.case is None

    clock.advance(minutes=2)
    result = await cases.lookup(backend, number, receipt.password, sender_key=sender(backend))
    assert result.outcome is LookupOutcome.FOUND
    # Success resets the case's counter.
    result = await cases.lookup(backend, number, wrong, sender_key=sender(backend))
    assert result.outcome is LookupOutcome.WRONG and result.failures == 1


async def test_locked_lookup_does_not_check_the_password(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    receipt = await cases.submit(backend, draft())
    number = digits(receipt.number)
    for _ in range(5):
        await cases.lookup(backend, number, "99999999", sender_key=sender(backend))
    spy = VerifySpy(backend, monkeypatch)
    result = await cases.lookup(backend, number, receipt.password, sender_key=sender(backend))
    assert result.outcome is LookupOutcome.LOCKED and spy.calls == []


async def test_an_unknown_number_locks_exactly_like_a_real_one(backend: Backend, clock: FixedClock) -> None:
    number = new_case_number()
    outcomes = [
        (await cases.lookup(backend, number, "12345678", sender_key=sender(backend))).outcome
        for _ in range(6)
    ]
    assert outcomes == [LookupOutcome.WRONG] * 4 + [LookupOutcome.LOCKED] * 2


async def test_failures_outside_the_window_are_forgotten(backend: Backend, clock: FixedClock) -> None:
    receipt = await cases.submit(backend, draft())
    number = digits(receipt.number)
    for _ in range(4):
        await cases.lookup(backend, number, "99999999", sender_key=sender(backend))
    clock.advance(minutes=61)
    result = await cases.lookup(backend, number, "99999999", sender_key=sender(backend))
    assert result.outcome is LookupOutcome.WRONG and result.failures == 1


async def test_one_sender_guessing_many_numbers_is_locked(backend: Backend, clock: FixedClock) -> None:
    receipt = await cases.submit(backend, draft())
    guesser = sender(backend, "guesser")
    outcomes = [
        (await cases.lookup(backend, new_case_number(), "12345678", sender_key=guesser)).outcome
        for _ in range(10)
    ]
    assert outcomes == [LookupOutcome.WRONG] * 9 + [LookupOutcome.LOCKED]
    # Even a right answer is refused to that sender now, while others are unaffected.
    number = digits(receipt.number)
    result = await cases.lookup(backend, number, receipt.password, sender_key=guesser)
    assert result.outcome is LookupOutcome.LOCKED
    assert result.locked_until == clock.now() + timedelta(minutes=60)
    result = await cases.lookup(backend, number, receipt.password, sender_key=sender(backend))
    assert result.outcome is LookupOutcome.FOUND


async def test_a_success_does_not_reset_the_senders_count(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    guesser = sender(backend, "guesser")
    for _ in range(9):
        await cases.lookup(backend, new_case_number(), "12345678", sender_key=guesser)
    found = await cases.lookup(backend, digits(receipt.number), receipt.password, sender_key=guesser)
    assert found.outcome is LookupOutcome.FOUND
    result = await cases.lookup(backend, new_case_number(), "12345678", sender_key=guesser)
    assert result.outcome is LookupOutcome.LOCKED


async def test_throttle_rows_hold_no_case_number(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    await cases.lookup(backend, digits(receipt.number), "99999999", sender_key=sender(backend))
    keys = (await backend.session.execute(select(Throttle.key))).scalars().all()
    assert len(keys) == 2
    assert all(digits(receipt.number) not in key and ADDRESS not in key for key in keys)
    assert {key.split(":")[0] for key in keys} == {"case", "sender"}


async def test_lookup_shows_the_newest_public_reply_not_notes(backend: Backend, clock: FixedClock) -> None:
    receipt = await cases.submit(backend, draft())
    await cases.accept(backend, receipt.case_id, "staff:li")
    await cases.reply(backend, receipt.case_id, "staff:li", "已派人查看。")
    clock.advance(days=2)
    await cases.reply(backend, receipt.case_id, "staff:li", "路灯已修复。")
    await cases.add_note(backend, receipt.case_id, "staff:li", "内部：供电所配合")
    result = await cases.lookup(backend, digits(receipt.number), receipt.password, sender_key=sender(backend))
    assert result.case is not None
    assert result.case.status == "replied"
    assert result.case.latest_reply == "路灯已修复。"
    assert result.case.replied_on == date(2026, 3, 4)


async def test_merged_case_shows_the_primary_progress(backend: Backend) -> None:
    primary = await cases.submit(backend, draft())
    duplicate = await cases.submit(backend, draft(description="同一条街的路灯"))
    row = await backend.session.get(Case, duplicate.case_id)
    assert row is not None
    row.primary_id = primary.case_id
    await cases.assign(backend, primary.case_id, "staff:li", "城管局")
    await cases.reply(backend, primary.case_id, "staff:zhao", "已列入维修计划。")

    result = await cases.lookup(
        backend, digits(duplicate.number), duplicate.password, sender_key=sender(backend)
    )
    assert result.outcome is LookupOutcome.FOUND and result.case is not None
    assert result.case.merged
    assert result.case.number == duplicate.number
    assert result.case.status == "replied" and result.case.department == "城管局"
    assert result.case.latest_reply == "已列入维修计划。"
    assert result.case.due_on == primary.due_on
    if primary.password != duplicate.password:  # the duplicate opens with its own password only
        other = await cases.lookup(
            backend, digits(duplicate.number), primary.password, sender_key=sender(backend)
        )
        assert other.outcome is LookupOutcome.WRONG


# ---------------------------------------------------------------- staff actions


async def test_a_case_through_its_life(backend: Backend, clock: FixedClock) -> None:
    receipt = await cases.submit(backend, draft())
    case_id = receipt.case_id
    await cases.accept(backend, case_id, "staff:li")
    clock.advance(hours=1)
    case = await cases.assign(backend, case_id, "staff:li", "城管局")
    assert case.department == "城管局" and case.status == "assigned"
    assert (await cases.start(backend, case_id, "staff:zhao")).status == "in_progress"
    await cases.add_note(backend, case_id, "staff:zhao", "现场已拍照")
    await cases.reply(backend, case_id, "staff:zhao", "已修复。")
    clock.advance(days=1)
    case = await cases.close(backend, case_id, "staff:li")
    assert case.status == "closed" and case.closed_at == clock.now() and case.updated_at == clock.now()

    events = await cases.timeline(backend, case_id)
    assert [(e.action, e.actor) for e in events] == [
        ("submitted", "citizen"),
        ("accept", "staff:li"),
        ("assign", "staff:li"),
        ("start", "staff:zhao"),
        ("note", "staff:zhao"),
        ("reply", "staff:zhao"),
        ("close", "staff:li"),
    ]
    assert [e.public_text for e in events] == [None, None, None, None, None, "已修复。", None]
    assert events[2].detail == {"from": "accepted", "to": "assigned", "department": "城管局"}

    # Notes are still possible on a closed case; nothing else is.
    await cases.add_note(backend, case_id, "staff:li", "回访满意")
    with pytest.raises(CaseStateError):
        await cases.reply(backend, case_id, "staff:li", "再补充一句")
    with pytest.raises(CaseStateError):
        await cases.assign(backend, case_id, "staff:li", "住建局")


async def test_decline_is_public_and_only_before_work_starts(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    await cases.decline(backend, receipt.case_id, "staff:li", "不属于本县管辖，请向市交通局反映。")
    result = await cases.lookup(backend, digits(receipt.number), receipt.password, sender_key=sender(backend))
    assert result.case is not None
    assert result.case.status == "declined"
    assert result.case.latest_reply == "不属于本县管辖，请向市交通局反映。"
    await cases.close(backend, receipt.case_id, "staff:li")

    other = await cases.submit(backend, draft())
    await cases.assign(backend, other.case_id, "staff:li", "城管局")
    with pytest.raises(CaseStateError):
        await cases.decline(backend, other.case_id, "staff:li", "不受理")


@pytest.mark.parametrize(
    ("steps", "action"),
    [
        ([], "close"),  # no answer yet
        ([], "start"),  # not taken on
        (["accept"], "accept"),
        (["decline"], "reply"),
        (["decline"], "assign"),
    ],
)
async def test_impossible_transitions(backend: Backend, steps: list[str], action: str) -> None:
    receipt = await cases.submit(backend, draft())
    calls = {
        "accept": lambda: cases.accept(backend, receipt.case_id, "staff:li"),
        "decline": lambda: cases.decline(backend, receipt.case_id, "staff:li", "不受理"),
        "reply": lambda: cases.reply(backend, receipt.case_id, "staff:li", "答复"),
        "assign": lambda: cases.assign(backend, receipt.case_id, "staff:li", "城管局"),
        "start": lambda: cases.start(backend, receipt.case_id, "staff:li"),
        "close": lambda: cases.close(backend, receipt.case_id, "staff:li"),
    }
    for step in steps:
        await calls[step]()
    with pytest.raises(CaseStateError):
        await calls[action]()
    events = await cases.timeline(backend, receipt.case_id)
    assert len(events) == 1 + len(steps)  # the refused action left no trace


async def test_staff_actions_need_a_case_and_real_text(backend: Backend) -> None:
    receipt = await cases.submit(backend, draft())
    with pytest.raises(cases.CaseNotFound):
        await cases.accept(backend, 999_999, "staff:li")
    with pytest.raises(ValueError):
        await cases.reply(backend, receipt.case_id, "staff:li", "  ")
    with pytest.raises(ValueError):
        await cases.decline(backend, receipt.case_id, "staff:li", "")
    with pytest.raises(ValueError):
        await cases.accept(backend, receipt.case_id, "")


# ---------------------------------------------------------------- the throttle itself


async def test_throttle_counts_locks_and_purges(backend: Backend, clock: FixedClock) -> None:
    window, lock_for = timedelta(minutes=10), timedelta(minutes=30)
    counts = [
        await throttle.register_failure(backend, "t:a", lock_after=3, window=window, lock_for=lock_for)
        for _ in range(3)
    ]
    assert counts == [1, 2, 3]
    assert await throttle.locked_until(backend, "t:a") == clock.now() + lock_for
    assert await throttle.locked_until(backend, "t:unknown") is None

    clock.advance(minutes=31)  # lock over: the next failure starts a new count instead of re-locking
    assert await throttle.locked_until(backend, "t:a") is None
    count = await throttle.register_failure(backend, "t:a", lock_after=3, window=window, lock_for=lock_for)
    assert count == 1 and await throttle.locked_until(backend, "t:a") is None

    await throttle.reset(backend, "t:a")
    assert await throttle.failures(backend, "t:a", window=window) == 0

    await throttle.register_failure(backend, "t:old", lock_after=3, window=window, lock_for=lock_for)
    clock.advance(hours=2)
    await throttle.register_failure(backend, "t:new", lock_after=1, window=window, lock_for=lock_for)
    assert await throttle.purge(backend, older_than=timedelta(hours=1)) == 1
    keys = (await backend.session.execute(select(Throttle.key))).scalars().all()
    assert keys == ["t:new"]


async def test_throttle_refuses_raw_overlong_keys(backend: Backend) -> None:
    with pytest.raises(ValueError):
        await throttle.locked_until(backend, "x" * 97)
