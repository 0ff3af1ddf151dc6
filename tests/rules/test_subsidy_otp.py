"""One-time codes for subsidy queries: what is sent, what is kept, and how many chances there are."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from bots.settings import BotSettings
from core import onetime, subsidies, subsidy_otp
from core.backend import Backend
from core.clock import FixedClock
from core.onetime import Verdict
from storage.duplicate_models import OneTimeCode
from storage.models import OutboxMessage

ID_NUMBER = "510922195608141232"


async def record(backend: Backend, phone: str | None) -> int:
    return await subsidies.add_record(
        backend,
        id_number=ID_NUMBER,
        name="张秀英",
        programme=f"耕地地力保护补贴{phone}",
        year=2025,
        standard="每亩105元",
        amount=Decimal("892.50"),
        paid_on=date(2025, 6, 20),
        method="一卡通",
        status="已发放",
        phone=phone,
    )


async def send(backend: Backend, owner: str = "sender-a") -> subsidy_otp.Sent | None:
    return await subsidy_otp.send_code(
        backend, bot_id="county", owner=owner, phone="139 1234 5678", message=lambda code: f"验证码{code}"
    )


async def test_the_phone_comes_from_the_newest_record_that_has_one(backend: Backend) -> None:
    without, with_phone = await record(backend, None), await record(backend, "13912345678")
    assert await subsidy_otp.phone_for(backend, [without, with_phone]) == "13912345678"
    assert await subsidy_otp.phone_for(backend, [without]) is None
    assert subsidy_otp.sms_address("139-1234-5678") == "+8613912345678"
    assert subsidy_otp.sms_address("+86 139 1234 5678") == "+8613912345678"


async def test_the_code_goes_out_by_sms_and_only_its_hash_is_kept(backend: Backend) -> None:
    sent = await send(backend)
    assert sent is not None and sent.phone_tail == "5678"
    (row,) = (await backend.session.execute(select(OutboxMessage))).scalars()
    assert (row.channel, row.kind, row.status, row.conversation_id) == ("sms", "otp", "pending", None)
    assert backend.keyring.decrypt(row.address_enc) == "+8613912345678"
    code = row.payload["text"].removeprefix("验证码")
    assert len(code) == 6 and code.isdigit()
    (stored,) = (await backend.session.execute(select(OneTimeCode))).scalars()
    assert code not in str(stored.model_dump()) and "13912345678" not in str(stored.model_dump())

    assert (
        await onetime.check(backend, sent.code_id, owner="sender-b", attempt=code)
    ).verdict is Verdict.EXPIRED
    assert (
        await onetime.check(backend, sent.code_id, owner="sender-a", attempt=code)
    ).verdict is Verdict.ACCEPTED
    assert (
        await onetime.check(backend, sent.code_id, owner="sender-a", attempt=code)
    ).verdict is Verdict.EXPIRED


async def _code(backend: Backend) -> str:
    rows = (await backend.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
    return list(rows)[-1].payload["text"].removeprefix("验证码")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_three_tries(backend: Backend) -> None:
    sent = await send(backend)
    assert sent is not None
    wrong = _wrong(await _code(backend))
    results = [await onetime.check(backend, sent.code_id, owner="sender-a", attempt=wrong) for _ in range(4)]
    assert [(r.verdict, r.tries_left) for r in results] == [
        (Verdict.WRONG, 2),
        (Verdict.WRONG, 1),
        (Verdict.EXHAUSTED, 0),
        (Verdict.EXHAUSTED, 0),
    ]
    right = await _code(backend)
    assert (
        await onetime.check(backend, sent.code_id, owner="sender-a", attempt=right)
    ).verdict is Verdict.EXHAUSTED


async def test_ten_minutes(backend: Backend, clock: FixedClock) -> None:
    sent = await send(backend)
    assert sent is not None
    clock.advance(minutes=10)
    checked = await onetime.check(backend, sent.code_id, owner="sender-a", attempt=await _code(backend))
    assert checked.verdict is Verdict.EXPIRED


async def test_one_phone_gets_a_few_codes_an_hour(backend: Backend, clock: FixedClock) -> None:
    for index in range(onetime.MAX_PER_PHONE_PER_HOUR):
        assert await send(backend, owner=f"sender-{index}") is not None
    assert await send(backend, owner="sender-x") is None
    clock.advance(minutes=61)
    assert await send(backend, owner="sender-x") is not None


def test_the_setting_needs_the_sms_channel() -> None:
    assert BotSettings(channels=["wechat", "sms"], subsidy_otp=True).subsidy_otp
    with pytest.raises(ValueError, match="sms"):
        BotSettings(channels=["wechat"], subsidy_otp=True)
