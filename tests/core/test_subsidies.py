from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from core import subsidies, throttle
from core.backend import Backend
from core.clock import FixedClock
from core.idcard import IdProblem, make_id_number
from core.subsidies import SubsidyOutcome
from storage.models import SubsidyRecord

PERSON = make_id_number("411421", date(1956, 4, 18), 37)
OTHER = make_id_number("411421", date(1962, 11, 2), 44)
ACCOUNT = "6217 0000 1234 5678 901"


def record(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id_number": PERSON,
        "name": "李秀英",
        "programme": "耕地地力保护补贴",
        "year": 2025,
        "standard": "每亩 105 元",
        "amount": Decimal("1260.00"),
        "paid_on": date(2025, 6, 20),
        "method": "一卡通",
        "status": "已发放",
        "account": ACCOUNT,
        "town": "城关镇",
        "department": "农业农村局",
        "phone": "13700137000",
    }
    values.update(changes)
    return values


def sender(backend: Backend, who: str = "+8613800138000") -> str:
    return backend.keyring.lookup_hash("sender", f"sms:{who}")


async def count_rows(backend: Backend) -> int:
    return int((await backend.session.execute(select(func.count()).select_from(SubsidyRecord))).scalar_one())


async def test_add_record_encrypts_and_masks(backend: Backend) -> None:
    record_id = await subsidies.add_record(backend, **record())
    row = await backend.session.get(SubsidyRecord, record_id)
    assert row is not None
    text = " ".join(str(v) for v in row.model_dump().values())
    for secret in (PERSON, "12345678901", "6217000012345678901", "13700137000"):
        assert secret not in text
    assert row.id_hash == backend.keyring.lookup_hash("id_number", PERSON)
    assert backend.keyring.decrypt(row.id_enc) == PERSON
    assert backend.keyring.decrypt(row.account_enc or "") == "6217000012345678901"
    assert backend.keyring.decrypt(row.phone_enc or "") == "13700137000"
    assert row.account_masked == "6217***********8901"
    assert row.amount_cents == 126000


async def test_the_same_row_twice_adds_nothing(backend: Backend) -> None:
    first = await subsidies.add_record(backend, **record())
    # The same payment typed slightly differently (lower-case, spaces) is still the same payment.
    again = await subsidies.add_record(backend, **record(id_number=f" {PERSON.lower()} ", name="李 秀英"))
    assert again == first and await count_rows(backend) == 1
    other = await subsidies.add_record(backend, **record(year=2024, paid_on=date(2024, 6, 18)))
    assert other != first and await count_rows(backend) == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"id_number": PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")},
        {"name": "  "},
        {"amount": Decimal("12.345")},
        {"amount": Decimal("-5")},
    ],
)
async def test_bad_records_are_refused(backend: Backend, changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        await subsidies.add_record(backend, **record(**changes))


async def test_query_finds_payments_newest_first(backend: Backend) -> None:
    older = await subsidies.add_record(
        backend, **record(year=2024, paid_on=date(2024, 6, 18), amount=Decimal("1228.5"))
    )
    newer = await subsidies.add_record(backend, **record())
    pending = await subsidies.add_record(
        backend, **record(programme="农机购置补贴", paid_on=None, status="待发放", account=None)
    )
    await subsidies.add_record(backend, **record(id_number=OTHER, name="赵大军"))

    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=sender(backend))
    assert result.outcome is SubsidyOutcome.FOUND and result.problem is None
    assert result.masked_id == PERSON[:3] + "*" * 11 + PERSON[-4:]
    assert [p.id for p in result.payments] == [pending, newer, older]
    first, _, last = result.payments
    assert first.paid_on is None and first.account_masked is None and first.status == "待发放"
    assert last.amount == Decimal("1228.50") and str(last.amount) == "1228.50"
    assert last.account_masked == "6217***********8901"


async def test_query_accepts_how_people_type(backend: Backend) -> None:
    await subsidies.add_record(backend, **record())
    full_width = PERSON[:6].translate(str.maketrans("0123456789", "０１２３４５６７８９")) + PERSON[6:]
    result = await subsidies.query(
        backend, f" {full_width.lower()} ", " 李 秀英 ", sender_key=sender(backend)
    )
    assert result.outcome is SubsidyOutcome.FOUND and len(result.payments) == 1


async def test_wrong_name_looks_exactly_like_an_unknown_id(backend: Backend) -> None:
    await subsidies.add_record(backend, **record())
    unknown = make_id_number("411421", date(1970, 1, 1), 12)
    wrong_name = await subsidies.query(backend, PERSON, "李秀兰", sender_key=sender(backend, "a"))
    unknown_id = await subsidies.query(backend, unknown, "李秀兰", sender_key=sender(backend, "b"))
    assert wrong_name.outcome is unknown_id.outcome is SubsidyOutcome.NOT_FOUND
    assert wrong_name.payments == unknown_id.payments == []
    assert wrong_name.problem is unknown_id.problem is None
    assert wrong_name.masked_id is not None and unknown_id.masked_id is not None
    # Both cost the sender one failure: a lockout cannot tell the two apart either.
    window = timedelta(minutes=backend.policy.lookup_window_minutes)
    for who in ("a", "b"):
        assert await throttle.failures(backend, "sender:" + sender(backend, who), window=window) == 1


async def test_invalid_id_is_explained_and_not_counted(backend: Backend) -> None:
    bad_checksum = PERSON[:-1] + ("0" if PERSON[-1] != "0" else "1")
    future = make_id_number("411421", date(2027, 1, 1), 11)
    cases = [
        ("4114211956", IdProblem.LENGTH),
        (bad_checksum, IdProblem.CHECKSUM),
        (future, IdProblem.BIRTHDATE),
    ]
    for _ in range(5):
        for number, problem in cases:
            result = await subsidies.query(backend, number, "李秀英", sender_key=sender(backend))
            assert result.outcome is SubsidyOutcome.INVALID_ID and result.problem is problem
            assert result.payments == [] and result.masked_id is None
    await subsidies.add_record(backend, **record())
    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=sender(backend))
    assert result.outcome is SubsidyOutcome.FOUND  # fifteen typos locked nothing


async def test_name_guessing_locks_the_sender(backend: Backend, clock: FixedClock) -> None:
    await subsidies.add_record(backend, **record())
    guesser = sender(backend, "guesser")
    targets = [make_id_number("411421", date(1950 + i, 1, 1), 11) for i in range(9)]
    for number in targets:  # nine wrong answers across different IDs
        result = await subsidies.query(backend, number, "张三", sender_key=guesser)
        assert result.outcome is SubsidyOutcome.NOT_FOUND
    result = await subsidies.query(backend, PERSON, "张三", sender_key=guesser)  # the tenth
    assert result.outcome is SubsidyOutcome.NOT_FOUND
    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=guesser)
    assert result.outcome is SubsidyOutcome.LOCKED and result.payments == []

    clock.advance(minutes=61)
    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=guesser)
    assert result.outcome is SubsidyOutcome.FOUND


async def test_case_lookups_and_subsidy_queries_share_the_sender_count(backend: Backend) -> None:
    from core import cases
    from core.receipts import new_case_number

    guesser = sender(backend, "guesser")
    for _ in range(5):
        await cases.lookup(backend, new_case_number(), "12345678", sender_key=guesser)
    for i in range(5):
        number = make_id_number("411421", date(1950 + i, 1, 1), 11)
        await subsidies.query(backend, number, "张三", sender_key=guesser)
    await subsidies.add_record(backend, **record())
    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=guesser)
    assert result.outcome is SubsidyOutcome.LOCKED


async def test_many_senders_guessing_one_persons_name_lock_that_id(
    backend: Backend, clock: FixedClock
) -> None:
    await subsidies.add_record(backend, **record())
    for i in range(5):
        result = await subsidies.query(backend, PERSON, f"王{i}", sender_key=sender(backend, f"bot{i}"))
        assert result.outcome is SubsidyOutcome.NOT_FOUND
    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=sender(backend, "owner"))
    assert result.outcome is SubsidyOutcome.LOCKED
    clock.advance(minutes=61)
    result = await subsidies.query(backend, PERSON, "李秀英", sender_key=sender(backend, "owner"))
    assert result.outcome is SubsidyOutcome.FOUND


async def test_get_payment(backend: Backend) -> None:
    record_id = await subsidies.add_record(backend, **record())
    payment = await subsidies.get_payment(backend, record_id)
    assert payment is not None
    assert (payment.programme, payment.year, payment.amount) == ("耕地地力保护补贴", 2025, Decimal("1260.00"))
    assert payment.paid_on == date(2025, 6, 20) and payment.method == "一卡通"
    assert await subsidies.get_payment(backend, record_id + 100) is None


async def test_the_right_name_clears_the_wrong_guesses_on_that_id(backend: Backend) -> None:
    await subsidies.add_record(backend, **record())
    for round_ in range(2):  # four wrong names, then the right one: twice, and never locked
        for i in range(4):
            guesser = sender(backend, f"{round_}{i}")
            result = await subsidies.query(backend, PERSON, f"王{i}", sender_key=guesser)
            assert result.outcome is SubsidyOutcome.NOT_FOUND
        owner = sender(backend, f"owner{round_}")
        result = await subsidies.query(backend, PERSON, "李秀英", sender_key=owner)
        assert result.outcome is SubsidyOutcome.FOUND
    id_key = "subsidy:" + backend.keyring.lookup_hash("id_number", PERSON)
    assert await throttle.counters(backend, [id_key]) == {}
