"""At-rest drill (issue 8, part 7): after a realistic session on SQLite, the raw bytes of the database
file and its write-ahead log hold no resident ID number, no address of an anonymous reporter and no
query password, in UTF-8, UTF-16 (either byte order) or as bare digits.

The session: anonymous tips by SMS, WeChat (after a subscribe event, with a menu click later) and the web
chat, a named tip on the web chat, progress lookups (right and
wrong passwords, number and password in one message), and a subsidy query by ID number. What is
stored in plaintext on purpose is listed in docs/reliability.md.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core import subsidies
from storage.models import Case
from tests.channels.wechat.wire import fields_of
from tests.drills.conftest import Drill, WeChatWire

ID_NUMBER = "510922195608141232"
ANONYMOUS_PHONE = "+8613700007777"
ANONYMOUS_OPENID = "oAnonymousReporter0123456789"
# A web chat visitor's session id is their address: whoever holds it can read their conversation.
ANONYMOUS_SESSION = "5e55101dfeedc0de5e55101dfeedc0de"
# Left by a named reporter on purpose: the case keeps it encrypted, but the message that typed it stays in
# the inbound log in clear (staff read that log when they take a conversation over), see the doc.
NAMED_PHONE = "13812345678"
SUBSIDY_READER = "oSubsidyReader00123456789abc"
RECEIPT = re.compile(r"编号[:：]?\s*([0-9]{4}-[0-9]{4}-[0-9]{4}).*?密码[:：]?\s*([0-9]{8})", re.DOTALL)


async def tip(drill: Drill, channel: str, sender: str, *, named: bool) -> tuple[str, str]:
    words = ["举报", "村支书把低保名额给了自己亲戚，还收了每户两百元。", "完成", "不知道"]
    words += ["实名", "李建国", NAMED_PHONE] if named else ["匿名"]
    for said in words:
        await drill.say(channel, said, sender=sender)
    replies = await drill.say(channel, "1", sender=sender)
    [receipt] = [found for reply in replies if (found := RECEIPT.search(reply))]
    return receipt.group(1), receipt.group(2)


async def lookup(drill: Drill, channel: str, sender: str, *messages: str) -> list[str]:
    replies: list[str] = []
    for said in ["菜单", "查询", *messages]:
        replies = await drill.say(channel, said, sender=sender)
    return replies


async def wechat_event(drill: Drill, sender: str, event: str, key: str = "") -> None:
    """A subscribe or menu click: WeChat gives events no MsgId, so the service makes up their id."""
    wire = WeChatWire()
    fields = fields_of("event", FromUserName=sender, Event=event, EventKey=key)
    answer = await drill.send(wire.of(wire.callback(fields)))
    assert answer.status == 200, answer.body


def encodings(secret: str) -> dict[str, bytes]:
    # Bare digits only for numbers written with punctuation (+86...): an openid's digits mean nothing.
    digits = re.sub(r"\D", "", secret) if re.fullmatch(r"[0-9+\- ]+", secret) else ""
    forms = {
        "utf-8": secret.encode(),
        "utf-16-le": secret.encode("utf-16-le"),
        "utf-16-be": secret.encode("utf-16-be"),
    }
    if digits and digits != secret:
        forms["digits"] = digits.encode()
        forms["digits utf-16-le"] = digits.encode("utf-16-le")
    return forms


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_database_file_holds_no_id_number_anonymous_address_or_password(
    drill: Drill, tmp_path: Path
) -> None:
    async with drill.services.database.transaction() as session:
        await subsidies.add_record(
            drill.services.backend(session),
            id_number=ID_NUMBER,
            name="张秀英",
            programme="耕地地力保护补贴",
            year=2025,
            standard="每亩105元",
            amount=Decimal("892.50"),
            paid_on=date(2025, 6, 20),
            method="一卡通",
            status="已发放",
            account="6217003810012345678",
            town="河西镇",
            department="县农业农村局",
        )

    sms_case, sms_password = await tip(drill, "sms", ANONYMOUS_PHONE, named=False)
    await wechat_event(drill, ANONYMOUS_OPENID, "subscribe")
    wechat_case, wechat_password = await tip(drill, "wechat", ANONYMOUS_OPENID, named=False)
    await tip(drill, "webchat", ANONYMOUS_SESSION, named=False)
    web_case, web_password = await tip(drill, "webchat", "0123456789abcdef0123456789abcdef", named=True)

    assert "待受理" in "".join(await lookup(drill, "sms", ANONYMOUS_PHONE, sms_case, sms_password))
    wrong = await lookup(drill, "wechat", ANONYMOUS_OPENID, wechat_case, "24681357")
    assert "不正确" in "".join(wrong)
    assert "办理状态" in "".join(await drill.say("wechat", wechat_password, sender=ANONYMOUS_OPENID))
    both = await lookup(drill, "webchat", "0123456789abcdef0123456789abcdef", f"{web_case} {web_password}")
    assert "办理状态" in "".join(both)
    for said in ["补贴", ID_NUMBER, "张秀英"]:
        found = await drill.say("wechat", said, sender=SUBSIDY_READER)
    assert "耕地地力保护补贴" in "".join(found)
    async with drill.services.database.reading() as session:
        anonymous = list((await session.execute(select(Case).where(Case.anonymous.is_(True)))).scalars())
    assert len(anonymous) == 3
    await wechat_event(drill, ANONYMOUS_OPENID, "CLICK", "lookup")

    files = sorted(tmp_path.glob("test.db*"))
    raw = b"".join(path.read_bytes() for path in files)
    assert any(path.name == "test.db-wal" for path in files) or len(files) == 1
    secrets = {
        "ID number": ID_NUMBER,
        "anonymous SMS reporter's phone": ANONYMOUS_PHONE,
        "anonymous WeChat reporter's openid": ANONYMOUS_OPENID,
        "anonymous web chat reporter's session id": ANONYMOUS_SESSION,
        "query password (SMS)": sms_password,
        "query password (WeChat)": wechat_password,
        "query password (web chat)": web_password,
        "a wrong password typed": "24681357",
    }
    found_in_file = [
        f"{what} as {form}"
        for what, secret in secrets.items()
        for form, data in encodings(secret).items()
        if data in raw
    ]
    assert found_in_file == []
    # The file is the real one and the drill can see into it: the case numbers are stored in clear.
    assert sms_case.replace("-", "").encode() in raw
