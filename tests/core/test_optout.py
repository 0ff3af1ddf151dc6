"""Opt-outs: set, cleared, per bot / channel / address, stored as a keyed hash, keyword retries remembered."""

from __future__ import annotations

from sqlalchemy import select

from core import optout
from core.backend import Backend
from storage.models import OptOut

PHONE = "+8613800138000"


async def _rows(b: Backend) -> list[OptOut]:
    return list((await b.session.scalars(select(OptOut).execution_options(populate_existing=True))).all())


async def test_opt_out_then_in(backend: Backend) -> None:
    assert not await optout.is_opted_out(backend, "county", "sms", PHONE)

    assert await optout.opt_out(backend, "county", "sms", PHONE) is True
    assert await optout.is_opted_out(backend, "county", "sms", PHONE)
    assert await optout.opt_out(backend, "county", "sms", PHONE) is False  # already out: no change

    assert await optout.opt_in(backend, "county", "sms", PHONE) is True
    assert not await optout.is_opted_out(backend, "county", "sms", PHONE)
    assert await optout.opt_in(backend, "county", "sms", PHONE) is False


async def test_scoped_to_bot_channel_and_address(backend: Backend) -> None:
    await optout.opt_out(backend, "county", "sms", PHONE)

    assert not await optout.is_opted_out(backend, "other", "sms", PHONE)
    assert not await optout.is_opted_out(backend, "county", "wechat", PHONE)
    assert not await optout.is_opted_out(backend, "county", "sms", "+8613900139000")


async def test_the_address_is_only_a_keyed_hash(backend: Backend) -> None:
    await optout.opt_out(backend, "county", "sms", PHONE, source="provider")
    [row] = await _rows(backend)
    assert row.address_hash == backend.keyring.lookup_hash("address", f"sms:{PHONE}")
    assert PHONE not in repr(row.model_dump()) and PHONE[1:] not in repr(row.model_dump())
    assert (row.source, row.changed_at) == ("provider", backend.clock.now())


async def test_opting_in_an_address_never_opted_out_writes_nothing(backend: Backend) -> None:
    assert await optout.opt_in(backend, "county", "sms", PHONE) is False
    assert await _rows(backend) == []


async def test_keyword_messages_are_remembered_with_what_they_did(backend: Backend) -> None:
    assert await optout.handled(backend, "county", "sms", PHONE, "SM1") is None
    await optout.opt_out(backend, "county", "sms", PHONE, message_id="SM1")
    await optout.opt_in(backend, "county", "sms", PHONE, message_id="SM2")
    await optout.opt_out(backend, "county", "sms", PHONE, message_id="SM1")  # a retry: recorded once

    assert await optout.handled(backend, "county", "sms", PHONE, "SM1") == "out"
    assert await optout.handled(backend, "county", "sms", PHONE, "SM2") == "in"
    assert await optout.handled(backend, "county", "sms", PHONE, "SM3") is None
    assert await optout.handled(backend, "county", "sms", "+8613900139000", "SM1") is None
    [row] = await _rows(backend)
    assert row.keyword_messages == [["SM1", "out"], ["SM2", "in"]]


async def test_a_start_from_a_subscribed_number_is_remembered_too(backend: Backend) -> None:
    assert await optout.opt_in(backend, "county", "sms", PHONE, message_id="SM1") is False
    assert await optout.handled(backend, "county", "sms", PHONE, "SM1") == "in"
    assert not await optout.is_opted_out(backend, "county", "sms", PHONE)


async def test_only_the_latest_keyword_messages_are_kept(backend: Backend) -> None:
    for i in range(optout.REMEMBERED_KEYWORDS + 5):
        await optout.opt_out(backend, "county", "sms", PHONE, message_id=f"SM{i}")
    [row] = await _rows(backend)
    assert len(row.keyword_messages) == optout.REMEMBERED_KEYWORDS
    assert await optout.handled(backend, "county", "sms", PHONE, "SM0") is None
    assert (
        await optout.handled(backend, "county", "sms", PHONE, f"SM{optout.REMEMBERED_KEYWORDS + 4}") == "out"
    )
