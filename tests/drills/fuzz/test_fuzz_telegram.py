"""Telegram updates with the webhook's secret, fuzzed: never a 5xx or a logged error, never a
half-written database; without the secret, always a 403."""

from __future__ import annotations

import json

from hypothesis import given

from tests.drills.fuzz import telegram
from tests.drills.fuzz.conftest import CI
from tests.drills.fuzz.service import TELEGRAM_SECRET, FuzzService


@CI
@given(case=telegram.cases())
async def test_any_update_is_answered_without_error(
    service: FuzzService, case: telegram.TelegramCase
) -> None:
    _, problems = await telegram.exercise(service, case)
    problems += await service.check_database()
    assert not problems, problems


async def test_nuls_and_lone_surrogates_in_a_message_are_stored_and_answered(service: FuzzService) -> None:
    update = {
        "update_id": 10,
        "message": {"message_id": 1, "date": telegram.NOW,
                    "chat": {"id": telegram.CHATS[0], "type": "private"},
                    "text": "路灯\x00坏了\ud800"},
    }  # fmt: skip
    case = telegram.TelegramCase(json.dumps(update).encode(), TELEGRAM_SECRET, well_formed=True)
    assert await telegram.exercise(service, case) == ("200", [])
    assert await service.count("inbound_messages") == 1


async def test_a_callback_query_id_with_a_lone_surrogate_is_a_400(service: FuzzService) -> None:
    """Found by the drill: the id went back to the Bot API, could not be encoded: a 500."""
    update = {
        "update_id": 11,
        "callback_query": {"id": "h\ud8ee1", "chat_instance": "ci", "data": "submit",
                           "from": {"id": telegram.CHATS[0], "is_bot": False, "first_name": "x"}},
    }  # fmt: skip
    case = telegram.TelegramCase(json.dumps(update).encode(), TELEGRAM_SECRET)
    assert await telegram.exercise(service, case) == ("400", [])


async def test_a_field_name_with_a_lone_surrogate_does_not_drop_the_message(service: FuzzService) -> None:
    """Found by the 100 000-case drill: pydantic cannot read such a name, and the message got a 400."""
    update = {
        "update_id": 12,
        "message": {"message_id": 2, "date": telegram.NOW,
                    "chat": {"id": telegram.CHATS[0], "type": "private", "first_name": "A\ud800"},
                    "from": {"id": telegram.CHATS[0], "is_bot": False, "first_name": "村民"},
                    "text": "路灯坏了"},
        "future_field_\udb79": {"k\udfff": 1},
    }  # fmt: skip
    case = telegram.TelegramCase(json.dumps(update).encode(), TELEGRAM_SECRET, well_formed=True)
    assert await telegram.exercise(service, case) == ("200", [])
    assert await service.count("inbound_messages") == 1
