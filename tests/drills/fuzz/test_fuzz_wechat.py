"""WeChat callbacks, plain and encrypted, signed and fuzzed: never a 5xx, a logged error, an expanded
entity or the planted file's content, never a half-written database."""

from __future__ import annotations

from hypothesis import given

from tests.drills.fuzz import wechat
from tests.drills.fuzz.conftest import CI
from tests.drills.fuzz.service import FuzzService


@CI
@given(case=wechat.plain_cases())
async def test_any_plain_callback_is_answered_without_error(
    service: FuzzService, case: wechat.WeChatCase
) -> None:
    _, problems = await wechat.exercise(service, case)
    problems += await service.check_database()
    assert not problems, problems


@CI
@given(case=wechat.encrypted_cases())
async def test_any_encrypted_callback_is_answered_without_error(
    service: FuzzService, case: wechat.WeChatCase
) -> None:
    _, problems = await wechat.exercise(service, case)
    problems += await service.check_database()
    assert not problems, problems


async def test_entity_bombs_and_external_entities_are_refused_unread(service: FuzzService) -> None:
    for document in wechat.hostile_list(str(service.planted)):
        for encrypted in (False, True):
            case = wechat.WeChatCase(document, "valid", encrypted, hostile=True)
            assert await wechat.exercise(service, case) == ("400", [])
    assert await service.count("inbound_messages") == 0


async def test_a_text_message_is_answered_plain_and_encrypted(service: FuzzService) -> None:
    fields = {"ToUserName": wechat.ACCOUNT, "FromUserName": wechat.OPENIDS[0], "CreateTime": 1_772_413_200,
              "MsgType": "text", "Content": "你好", "MsgId": 1}  # fmt: skip
    for encrypted, msg_id in ((False, 1), (True, 2)):
        case = wechat.WeChatCase(
            wechat.render({**fields, "MsgId": msg_id}), "valid", encrypted, well_formed=True
        )
        assert await wechat.exercise(service, case) == ("200", [])
    assert await service.count("inbound_messages") == 2
