"""Receipt-guessing drill (issue 8, part 5): at most 5 wrong passwords per case in any hour, a per-sender
limit across case numbers, the same reply and the same password-hashing work whether or not the case
exists, and no password, case password or ID number in any log line (the access log included).

The conversation is driven as a citizen would, over the web chat and SMS of the full app; the timing
class is checked on `core.cases.lookup` itself, with the production argon2 cost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from bots.cli_common import setup_logging
from core import cases
from core.backend import Backend
from core.cases import LookupOutcome
from core.clock import FixedClock
from core.crypto import Keyring
from core.receipts import format_case_number, new_case_number
from storage.models import Throttle
from tests.conftest import TEST_SECRET
from tests.drills.conftest import SENDERS, Drill

RECEIPT = re.compile(r"编号[:：]?\s*([0-9]{4}-[0-9]{4}-[0-9]{4}).*?密码[:：]?\s*([0-9]{8})", re.DOTALL)
WRONG = ("案件编号或查询密码不正确", "编号或密码不对")  # the full text, and the short one on SMS
LOCKED = ("输错次数太多", "输错太多")
STRANGER = "ffffffffffffffffffffffffffff0001"  # another web chat visitor
GUESSER = "eeeeeeeeeeeeeeeeeeeeeeeeeeee0002"


async def submit(drill: Drill, channel: str = "webchat", sender: str | None = None) -> tuple[str, str]:
    """A suggestion submitted through the conversation; its case number and query password."""
    for words in ["建议", "希望村里的公交车多开一班。", "完成", "县交通运输局"]:
        await drill.say(channel, words, sender=sender)
    [receipt] = [m for reply in await drill.say(channel, "1", sender=sender) if (m := RECEIPT.search(reply))]
    return receipt.group(1), receipt.group(2)


async def attempt(drill: Drill, number: str, password: str, *, sender: str, channel: str = "webchat") -> str:
    """One lookup from the menu: number, then password; the reply to the password, as one text."""
    await drill.say(channel, "菜单", sender=sender)
    await drill.say(channel, "查询", sender=sender)
    await drill.say(channel, number, sender=sender)
    return "\n".join(await drill.say(channel, password, sender=sender))


def outcome(reply: str) -> str:
    if reply.startswith(LOCKED):
        return "locked"
    if reply.startswith(WRONG):
        return "wrong"
    return "found" if "办理状态" in reply else reply


async def test_the_sixth_try_in_an_hour_is_refused_even_with_the_right_password(drill: Drill) -> None:
    number, password = await submit(drill)
    replies = [await attempt(drill, number, f"{n}{n}{n}{n}0000", sender=STRANGER) for n in range(1, 6)]
    right = await attempt(drill, number, password, sender=STRANGER)
    owner = await attempt(drill, number, password, sender=SENDERS["webchat"])  # the reporter, elsewhere

    assert [outcome(reply) for reply in replies] == ["wrong"] * 4 + ["locked"]
    assert outcome(right) == "locked" and outcome(owner) == "locked"  # the lock is on the case

    drill.clock.advance(minutes=59)
    assert outcome(await attempt(drill, number, password, sender=STRANGER)) == "locked"
    drill.clock.advance(minutes=2)  # an hour and a minute after the fifth wrong password
    assert outcome(await attempt(drill, number, password, sender=STRANGER)) == "found"


async def test_no_hour_holds_more_than_five_wrong_passwords_for_one_case(drill: Drill) -> None:
    """A guesser who knows the window spends four guesses just before it closes and more just after."""
    number, _ = await submit(drill)
    wrong_at: list[float] = []  # minutes since the start, of each attempt answered "wrong"
    minute = 0.0
    schedule = [0.0, 58.0, 58.5, 59.0, 60.5, 61.0, 61.5, 62.0, 125.0, 125.5]
    guesses = iter(range(10_000_000, 99_999_999, 1_111_111))
    for at in schedule:
        drill.clock.advance(minutes=at - minute)
        minute = at
        # A new web chat session for each guess: only the case's own count can stop them.
        reply = await attempt(drill, number, str(next(guesses)), sender=f"{int(at * 10):032x}")
        if outcome(reply) == "wrong":
            wrong_at.append(at)
        else:
            assert outcome(reply) == "locked", reply

    busiest = max(sum(1 for t in wrong_at if start <= t < start + 60) for start in wrong_at)
    assert busiest <= 4, wrong_at  # the fifth wrong password locks: four are answered "wrong" at most


async def test_one_sender_is_stopped_across_case_numbers(drill: Drill) -> None:
    number, password = await submit(drill)
    replies = []
    for _ in range(10):  # ten made-up, well-formed numbers, one guess each
        other = format_case_number(new_case_number())
        replies.append(outcome(await attempt(drill, other, "12345678", sender=GUESSER)))

    assert replies == ["wrong"] * 9 + ["locked"]
    assert outcome(await attempt(drill, number, password, sender=GUESSER)) == "locked"
    assert outcome(await attempt(drill, number, password, sender=STRANGER)) == "found"


async def test_a_number_that_exists_and_one_that_does_not_get_the_same_replies(drill: Drill) -> None:
    number, _ = await submit(drill)
    made_up = format_case_number(new_case_number())
    existing = [await attempt(drill, number, f"{n}1234567", sender=STRANGER) for n in range(1, 7)]
    missing = [await attempt(drill, made_up, f"{n}1234567", sender=GUESSER) for n in range(1, 7)]

    assert existing == missing
    assert [outcome(reply) for reply in existing] == ["wrong"] * 4 + ["locked"] * 2
    assert "为保护隐私" in existing[2]  # the hint after three


async def test_the_same_holds_on_sms(drill: Drill) -> None:
    number, _ = await submit(drill, "sms")
    made_up = format_case_number(new_case_number())
    existing = [await attempt(drill, number, "87654321", sender="+8613700001111", channel="sms")]
    missing = [await attempt(drill, made_up, "87654321", sender="+8613700002222", channel="sms")]
    assert existing == missing and outcome(existing[0]) == "wrong"


# ---------------------------------------------------------------- the timing class, on the core


class CountingKeyring(Keyring):
    def __init__(self) -> None:
        super().__init__(TEST_SECRET, password_cost="normal")
        self.verified: list[bool] = []  # per call: was there a real hash to check against?

    def verify_password(self, hashed: str | None, password: str) -> bool:
        self.verified.append(hashed is not None)
        return super().verify_password(hashed, password)


async def test_existing_and_missing_cases_cost_one_verify_each(backend: Backend, clock: FixedClock) -> None:
    keyring = CountingKeyring()
    b = Backend(
        session=backend.session,
        keyring=keyring,
        clock=clock,
        policy=backend.policy,
        calendar=backend.calendar,
    )
    receipt = await cases.submit(b, _draft())
    number = receipt.number.replace("-", "")
    missing = new_case_number()
    sender = keyring.lookup_hash("sender", "webchat:timing")

    async def timed(case_number: str) -> float:
        started = time.perf_counter()
        result = await cases.lookup(b, case_number, "00000000", sender_key=sender)
        assert result.outcome is LookupOutcome.WRONG
        return time.perf_counter() - started

    await timed(missing)  # the dummy hash is made on first use; warm it up outside the measurement
    keyring.verified.clear()
    existing_times, missing_times = [], []
    for _ in range(3):
        existing_times.append(await timed(number))
        missing_times.append(await timed(missing))
        await _forget_failures(b)

    # Structurally the same work: one argon2 verification per attempt, real hash or dummy.
    assert keyring.verified == [True, False] * 3
    # And the same class of time: both dominated by that verification (loose, for a shared machine).
    ratio = min(existing_times) / min(missing_times)
    assert 0.5 < ratio < 2.0, (existing_times, missing_times)


async def _forget_failures(b: Backend) -> None:
    await b.session.execute(delete(Throttle))


def _draft() -> cases.CaseDraft:
    return cases.CaseDraft(
        bot_id="county",
        kind="suggestion",
        description="希望村里的公交车多开一班。",
        department="县交通运输局",
    )


# ---------------------------------------------------------------- nothing secret in the logs


@pytest.fixture
def production_logging() -> Iterator[None]:
    """The logging `sunshine serve --log-level DEBUG` sets up, undone afterwards."""
    names = ("", "alembic", "sqlalchemy", "aiosqlite")
    levels = {name: logging.getLogger(name).level for name in names}
    setup_logging(logging.DEBUG)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("production_logging")
async def test_no_log_line_holds_a_password_or_an_id_number(
    drill: Drill, caplog: pytest.LogCaptureFixture
) -> None:
    id_number = "510922195608141232"
    with caplog.at_level(logging.DEBUG):
        number, password = await submit(drill, "sms")
        await attempt(drill, number, "13572468", sender="+8613700003333", channel="sms")
        await attempt(drill, number, password, sender="+8613700003333", channel="sms")
        for words in ["补贴", id_number, "张秀英"]:
            await drill.say("wechat", words)
        for words in ["查询", number, password]:
            await drill.say("telegram", words)
        await drill.say("webchat", f"我的身份证是{id_number}，密码{password}")
        await asyncio.sleep(0)

    logged = "\n".join(
        [record.getMessage() for record in caplog.records] + [caplog.text]
    )
    assert any(record.name == "aiohttp.access" for record in caplog.records), "the access log was captured"
    for secret in (password, "13572468", id_number, id_number[-8:], number.replace("-", "")):
        assert secret not in logged, secret
    assert number not in logged

