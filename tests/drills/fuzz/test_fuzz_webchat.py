"""The web chat API, fuzzed: never a 5xx or a logged error, a JSON error for every refusal, never a
half-written database."""

from __future__ import annotations

import json

from hypothesis import given

from tests.drills.fuzz import webchat
from tests.drills.fuzz.conftest import CI
from tests.drills.fuzz.service import FuzzService


@CI
@given(case=webchat.cases())
async def test_any_request_is_answered_without_error(service: FuzzService, case: webchat.WebChatCase) -> None:
    _, problems = await webchat.exercise(service, case)
    problems += await service.check_database()
    assert not problems, problems


async def test_a_message_with_a_nul_and_a_lone_surrogate_is_answered(service: FuzzService) -> None:
    body = {"session": webchat.SESSIONS[0], "text": "路灯\x00坏了\ud800", "client_message_id": "m1"}
    case = webchat.WebChatCase("POST", json.dumps(body).encode(), well_formed=True)
    assert await webchat.exercise(service, case) == ("200", [])
    assert await service.count("inbound_messages") == 1


async def test_a_language_that_is_not_a_string_is_a_400(service: FuzzService) -> None:
    body = {"session": webchat.SESSIONS[0], "text": "你好", "client_message_id": "m2", "language": ["en"]}
    reply = await service.request("POST", webchat.MESSAGES, data=json.dumps(body).encode(),
                                  headers={"Content-Type": "application/json"})  # fmt: skip
    assert (reply.status, json.loads(reply.body)) == (400, {"error": "bad_language"})
    assert service.log.take() == []
