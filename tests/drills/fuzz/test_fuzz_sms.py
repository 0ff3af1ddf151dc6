"""Twilio forms, signed and fuzzed: never a 5xx or a logged error, never a half-written database."""

from __future__ import annotations

from hypothesis import given

from tests.drills.fuzz import sms
from tests.drills.fuzz.conftest import CI
from tests.drills.fuzz.service import FuzzService


@CI
@given(case=sms.cases())
async def test_any_twilio_form_is_answered_without_error_and_leaves_the_database_whole(
    service: FuzzService, case: sms.SmsCase
) -> None:
    _, problems = await sms.exercise(service, case)
    problems += await service.check_database()
    assert not problems, problems


async def test_the_fuzzed_service_does_reach_the_conversation(service: FuzzService) -> None:
    """The properties mean something only if signed forms get past the signature: one walk through."""
    for text in ("我要投诉", "镇上的路灯坏了三个月了", "完成"):
        case = sms.SmsCase(sms.INBOUND, sms.message_fields(text, sender=sms.SENDERS[0]), "valid")
        status, problems = await sms.exercise(service, case)
        assert (status, problems) == ("200", [])
    assert await service.count("inbound_messages") == 3
    assert await service.count("outbox") >= 3
