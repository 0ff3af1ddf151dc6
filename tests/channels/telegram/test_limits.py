"""The flood limiter's schedule, read off a fake clock: one message a second per chat, thirty a second
overall, and a waiting chat never holding up the others."""

from __future__ import annotations

import asyncio

import pytest

from channels.telegram.limits import RateLimiter
from tests.channels.telegram.conftest import VirtualTime


class StillClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_one_chat_gets_one_message_a_second() -> None:
    clock = StillClock()
    limiter = RateLimiter(clock=clock)

    moments = [limiter.reserve("42") for _ in range(4)]

    assert moments == pytest.approx([100.0, 101.0, 102.0, 103.0])


def test_a_chat_that_waits_does_not_hold_up_the_others() -> None:
    clock = StillClock()
    limiter = RateLimiter(clock=clock)
    limiter.reserve("42")
    limiter.reserve("42")  # "42" now waits until 101

    others = [limiter.reserve(str(chat)) for chat in range(1, 4)]

    assert others == pytest.approx([100 + 1 / 30, 100 + 2 / 30, 100 + 3 / 30])
    assert max(others) < 101


def test_all_chats_together_get_thirty_a_second() -> None:
    clock = StillClock()
    limiter = RateLimiter(clock=clock)

    moments = [limiter.reserve(str(chat)) for chat in range(90)]

    assert moments == sorted(moments)
    assert len(set(moments)) == 90
    assert moments[-1] == pytest.approx(100 + 89 / 30)
    for start in moments:  # no one-second window holds more than thirty
        assert sum(start <= m < start + 1 for m in moments) <= 30


def test_a_message_with_room_goes_at_once_between_grid_lines() -> None:
    """An idle bot answers now, not at the next thirtieth of a second (that cost every answer 17 ms)."""
    clock = StillClock(100.012345)
    limiter = RateLimiter(clock=clock)

    first = limiter.reserve("42")
    clock.now = 100.02
    second = limiter.reserve("43")  # only 8 ms later: waits until 1/30 s after the first
    clock.now = 100.5
    third = limiter.reserve("44")  # room again: at once

    assert first == pytest.approx(100.012345, abs=1e-6)
    assert second == pytest.approx(100.012345 + 1 / 30, abs=1e-6)
    assert third == pytest.approx(100.5, abs=1e-6)


def test_a_busy_bot_off_the_grid_still_sends_at_most_thirty_in_any_second() -> None:
    clock = StillClock(100.0137)
    limiter = RateLimiter(clock=clock)
    moments = []
    for chat in range(200):
        clock.now += 0.004  # asked for faster than thirty a second
        moments.append(limiter.reserve(str(chat)))

    assert moments == sorted(moments)
    for start in moments:
        assert sum(start <= m < start + 1 for m in moments) <= 30
    assert 29.9 < (len(moments) - 1) / (moments[-1] - moments[0]) <= 30


def test_time_passing_frees_the_chat_again() -> None:
    clock = StillClock()
    limiter = RateLimiter(clock=clock)
    assert limiter.reserve("42") == 100.0
    clock.now = 105.0
    assert limiter.reserve("42") == 105.0


def test_hold_keeps_a_chat_quiet_for_what_telegram_asked() -> None:
    clock = StillClock()
    limiter = RateLimiter(clock=clock)
    limiter.hold("42", 7)
    assert limiter.reserve("42") == pytest.approx(107.0)
    assert limiter.reserve("43") == pytest.approx(100.0)


async def test_concurrent_senders_to_one_chat_go_a_second_apart() -> None:
    time = VirtualTime()
    limiter = RateLimiter(clock=time.clock, sleep=time.sleep)

    await asyncio.gather(limiter.wait("42"), limiter.wait("42"), limiter.wait("43"), limiter.wait("42"))

    # The first "42" and "43" go at once (a slot apart, 1/30 s); the other two "42"s wait their seconds.
    assert time.wakes == pytest.approx([1001.0, 1000.0 + 1 / 30, 1002.0])


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_second=0)
