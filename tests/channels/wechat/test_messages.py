"""The passive reply's text (one message, numbered choices, WeChat's byte limit), splitting for the API,
and settings validation."""

from __future__ import annotations

import pytest
import xmltodict

from channels.registry import ChannelLoadError
from channels.wechat import WeChatChannel
from channels.wechat.messages import TEXT_LIMIT_BYTES, api_pieces, clip, passive_text, reply_xml
from channels.wechat.settings import SettingsProblem, parse_settings
from core.messages import Choice, Outbound
from tests.channels.wechat.conftest import NoMailbox, account_settings
from tests.channels.wechat.wire import ACCOUNT, OPENID

CAPABILITIES = WeChatChannel.capabilities


def test_several_replies_become_one_text_with_numbered_choices() -> None:
    replies = [
        Outbound("已记下。"),
        Outbound("请核对：\n类别：举报", (Choice("confirm", "确认提交"), Choice("again", "重新填写"))),
    ]
    assert passive_text(replies, CAPABILITIES) == "已记下。\n\n请核对：\n类别：举报\n1 确认提交\n2 重新填写"


def test_a_text_over_the_limit_keeps_its_start_and_its_question() -> None:
    body = "\n".join(f"第{i}行" + "很长的描述" * 10 for i in range(60))
    message = Outbound(
        "请核对：\n" + body + "\n请回复数字：", (Choice("yes", "确认提交"), Choice("no", "不提交"))
    )

    text = passive_text([message], CAPABILITIES)

    assert len(text.encode()) <= TEXT_LIMIT_BYTES
    assert text.startswith("请核对：\n第0行")
    assert text.endswith("请回复数字：\n1 确认提交\n2 不提交")
    assert "\n……\n" in text
    assert all(line.startswith(("请", "第", "…", "1 ", "2 ")) for line in text.splitlines())  # whole lines


@pytest.mark.parametrize("text", ["a" * 5000, "长" * 5000, "🙂" * 3000, "x\n" * 3000])
def test_clipping_never_exceeds_the_byte_limit_nor_splits_a_character(text: str) -> None:
    clipped = clip(text, TEXT_LIMIT_BYTES)
    assert len(clipped.encode("utf-8")) <= TEXT_LIMIT_BYTES
    assert clipped.encode("utf-8").decode("utf-8") == clipped


def test_api_pieces_cover_the_whole_text() -> None:
    text = "开头\n" + "长" * 3000 + "\n结尾"
    pieces = api_pieces(text)
    assert all(len(p.encode()) <= TEXT_LIMIT_BYTES for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert api_pieces("短") == ["短"]


def test_the_reply_xml_carries_any_text_intact() -> None:
    content = passive_text([Outbound("a ]]> b <c> &amp; \x00\x07 🙂 \ufffe")], CAPABILITIES)
    xml = reply_xml(content, account=ACCOUNT, sender=OPENID, now=1772413200)
    parsed = xmltodict.parse(xml)["xml"]
    assert parsed["Content"] == "a ]]> b <c> &amp;  🙂"
    assert (parsed["ToUserName"], parsed["FromUserName"], parsed["CreateTime"]) == (
        OPENID,
        ACCOUNT,
        "1772413200",
    )


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"mode": "safe", "encoding_aes_key": None}, "mode 'safe' needs encoding_aes_key"),
        ({"encoding_aes_key": "short"}, "encoding_aes_key is the 43-character EncodingAESKey"),
        ({"token": "no spaces!"}, "token is 3 to 32 letters or digits"),
        ({"mode": "secure"}, "mode: Input should be 'plain', 'compatible' or 'safe'"),
        ({"passive_budget_seconds": 5}, "passive_budget_seconds: Input should be less than 5"),
        ({"api_base": "api.weixin.qq.com"}, "api_base must start with http:// or https://"),
        ({"app_secert": "typo"}, "app_secert: unknown setting (misspelt?)"),
        ({"menu": []}, "at least 1 item"),
    ],
)
def test_settings_problems_are_named(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsProblem, match="wechat settings of bot 'county'") as raised:
        parse_settings("county", {**account_settings("http://127.0.0.1:1/cgi-bin/"), **overrides})
    assert problem in str(raised.value)
    assert "fake-app-secret" not in str(raised.value)  # secrets never appear in the message


def test_configure_stops_the_start_on_bad_settings_and_skips_bots_without_any() -> None:
    from channels.base import ChannelContext

    async def unused(inbound: object) -> list[Outbound]:
        raise AssertionError

    channel = WeChatChannel()
    good = ChannelContext(
        bot_ids=("county", "town"),
        handle=unused,  # type: ignore[arg-type]
        mailbox=NoMailbox(),
        settings={"county": account_settings("https://api.weixin.qq.com/cgi-bin")},
    )
    channel.configure(good)
    assert sorted(channel.accounts) == ["county"]
    assert channel.accounts["county"].settings.api_base == "https://api.weixin.qq.com/cgi-bin/"

    bad = ChannelContext(
        bot_ids=("county",),
        handle=unused,  # type: ignore[arg-type]
        mailbox=NoMailbox(),
        settings={"county": {"token": "abc"}},
    )
    with pytest.raises(ChannelLoadError, match="app_id: Field required"):
        WeChatChannel().configure(bad)
    with pytest.raises(ChannelLoadError, match="handle_within"):
        channel.routes(good)  # a web process without the budgeted handler cannot serve WeChat
