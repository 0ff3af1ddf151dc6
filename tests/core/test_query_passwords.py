"""Query passwords hashed ahead: a submission hands out a stocked password that opens its case, and the
next one is hashed after the transaction, while no other citizen waits on the write lock for it."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from bots.pipeline import Pipeline, Services
from core import query_passwords
from core.crypto import Keyring
from core.messages import Capabilities, Inbound

TIP = ("你好", "1", "2", "村里修路的钱被挪用了，账目对不上", "完成", "城关镇", "1", "1")


def sms(n: int, text: str) -> Inbound:
    return Inbound(channel="sms", bot_id="county", sender="+8613800000001", message_id=f"SM{n:032x}",
                   text=text)


async def walk(pipeline: Pipeline, first: int) -> str:
    """A whole anonymous tip; the answer to the confirmation."""
    replies = []
    for n, text in enumerate(TIP, start=first):
        replies = await pipeline.handle(sms(n, text), Capabilities(concise=True), inline=True)
    return "\n".join(reply.text for reply in replies)


@pytest.fixture
def hashes(keyring: Keyring, services: Services, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For every password hashed: whether the database's write lock was held meanwhile."""
    made: list[bool] = []
    real = keyring.hash_password
    lock = services.database._write_lock

    def counted(password: str) -> str:
        made.append(lock is not None and lock.locked())
        return real(password)

    monkeypatch.setattr(keyring, "hash_password", counted)
    return made


async def test_after_the_first_submission_passwords_are_hashed_outside_the_transaction(
    pipeline: Pipeline, services: Services, hashes: list[bool]
) -> None:
    first = await walk(pipeline, 0)
    assert "已提交" in first
    await pipeline.drain()  # the next password is hashed after the answer, in the background
    # The first of a process is hashed inside its transaction (the stock is empty), the next after it.
    assert len(hashes) == 2
    assert not hashes[1]

    second = await walk(pipeline, 100)
    assert "已提交" in second
    await pipeline.drain()
    assert len(hashes) == 3 and not hashes[2]  # the second took the stocked one; its successor is made


async def test_a_submission_is_answered_before_the_next_password_is_hashed(
    pipeline: Pipeline, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    await walk(pipeline, 0)
    await pipeline.drain()  # a password is in stock
    started, release = threading.Event(), threading.Event()
    real = keyring.hash_password

    def held(password: str) -> str:
        started.set()
        release.wait(10)
        return real(password)

    monkeypatch.setattr(keyring, "hash_password", held)
    try:
        # Answered while the next password's hash is held: the citizen does not wait for it.
        answer = await asyncio.wait_for(walk(pipeline, 100), 5)
        assert "已提交" in answer
        assert await asyncio.to_thread(started.wait, 5)
    finally:
        release.set()
    await pipeline.drain()
    assert not query_passwords.stock_for(keyring).short


async def test_a_stocked_password_opens_the_case_it_was_given_to(keyring: Keyring) -> None:
    stock = query_passwords.PasswordStock(keyring)
    await stock.refill()
    password, stored = await stock.take()

    assert keyring.verify_password(stored, password)
    assert not keyring.verify_password(stored, password[::-1] + "0")
    assert stock.short  # taken, and never handed out again
    other, _ = await stock.take()
    assert other != password


async def test_a_stock_refills_only_after_a_password_was_taken(keyring: Keyring) -> None:
    stock = query_passwords.PasswordStock(keyring)
    await stock.refill_after_use()
    assert stock.short  # nothing taken yet: no hash spent

    await stock.take()
    await stock.refill_after_use()
    assert not stock.short


async def test_a_submission_during_a_refill_takes_its_password_instead_of_hashing_another(
    keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock = query_passwords.PasswordStock(keyring)
    await stock.take()  # the stock is empty: hashed on the spot
    real = keyring.hash_password
    made: list[str] = []

    def counted(password: str) -> str:
        made.append(password)
        return real(password)

    monkeypatch.setattr(keyring, "hash_password", counted)
    refilling = asyncio.ensure_future(stock.refill_after_use())
    await asyncio.sleep(0)  # the refill's hash is under way
    password, stored = await stock.take()
    await refilling

    assert made == [password]  # one hash, handed to the submission
    assert keyring.verify_password(stored, password)


async def test_a_password_hashed_ahead_yields_the_cpu_to_the_thread_serving_messages(
    keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a one-core server the hash made ahead ran beside the event loop as an equal, doubling the
    time of every answer given during it; made ahead, it runs at a lower priority (Linux: per thread)."""
    stock = query_passwords.PasswordStock(keyring)
    real = keyring.hash_password
    priorities: list[int] = []

    def noted(password: str) -> str:
        priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(password)

    monkeypatch.setattr(keyring, "hash_password", noted)
    serving = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    await stock.take()  # nothing stocked: the submission's own hash, at the serving priority
    await stock.refill_after_use()  # the next one, ahead

    assert priorities == [serving, max(serving, query_passwords.AHEAD_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == serving
