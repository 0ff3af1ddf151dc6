"""Per-bot SMS settings: checked when the channel is configured, reported without their secret values."""

from __future__ import annotations

from typing import Any

import pytest

from channels.base import ChannelContext
from channels.sms import SmsChannel
from channels.sms.settings import SmsSettingsError, parse_settings
from tests.channels.sms.conftest import NoMailbox
from tests.fakes.twilio_api import ACCOUNT_SID

GOOD: dict[str, Any] = {
    "account_sid": ACCOUNT_SID,
    "auth_token": "secret-token-value",
    "from_number": "+15005550006",
}


def test_minimal_settings() -> None:
    settings = parse_settings("county", GOOD)
    assert settings.max_per_second == 1.0
    assert settings.api_base is None and settings.public_base_url is None
    assert "secret-token-value" not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"account_sid": "AC123"}, "account_sid"),
        ({"auth_token": ""}, "auth_token"),
        ({"from_number": None}, "from_number or messaging_service_sid"),
        ({"messaging_service_sid": "MG1"}, "messaging_service_sid"),
        ({"api_base": "ftp://twilio"}, "api_base"),
        ({"public_base_url": "gov.example.cn"}, "public_base_url"),
        ({"max_per_second": 0}, "max_per_second"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_settings_name_the_field_but_not_the_values(changes: dict[str, Any], field: str) -> None:
    raw = {**GOOD, **changes, "auth_token": changes.get("auth_token", "secret-token-value")}
    with pytest.raises(SmsSettingsError) as raised:
        parse_settings("county", raw)
    message = str(raised.value)
    assert "county" in message and field in message
    assert "secret-token-value" not in message


def test_a_public_base_url_loses_its_trailing_slash() -> None:
    assert parse_settings(
        "county", {**GOOD, "public_base_url": "https://gov.example.cn/"}
    ).public_base_url == ("https://gov.example.cn")


async def _handle(inbound: Any) -> list[Any]:
    return []


def test_configure_refuses_a_context_without_a_unit_of_work() -> None:
    context = ChannelContext(
        bot_ids=("county",), handle=_handle, mailbox=NoMailbox(), settings={"county": GOOD}
    )
    with pytest.raises(SmsSettingsError, match="unit_of_work"):
        SmsChannel().configure(context)


def test_configure_reports_bad_settings_at_start() -> None:
    context = ChannelContext(
        bot_ids=("county",),
        handle=_handle,
        mailbox=NoMailbox(),
        settings={"county": {**GOOD, "account_sid": "x"}},
    )
    with pytest.raises(SmsSettingsError, match="account_sid"):
        SmsChannel().configure(context)


def test_bots_without_sms_settings_need_nothing() -> None:
    context = ChannelContext(bot_ids=("county",), handle=_handle, mailbox=NoMailbox(), settings={})
    channel = SmsChannel()
    channel.configure(context)
    assert channel.settings_for("county") is None
    assert [route.path for route in channel.routes(context)] == [  # type: ignore[attr-defined]
        "/webhooks/sms/{bot_id}",
        "/webhooks/sms/{bot_id}/status",
    ]
