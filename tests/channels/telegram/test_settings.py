"""Per-bot settings: validated at configure time with messages that name the setting, never the secret."""

from __future__ import annotations

from typing import Any

import pytest

from channels.base import ChannelContext
from channels.telegram import TelegramChannel
from channels.telegram.settings import DEFAULT_API_BASE, SettingsProblem, parse_settings, webhook_path
from tests.channels.telegram.conftest import SECRET, TOKEN, Mailbox

GOOD = {"token": TOKEN, "secret_token": SECRET}


def test_defaults() -> None:
    settings = parse_settings("county", GOOD)
    assert settings.api_base == DEFAULT_API_BASE
    assert settings.public_base_url is None
    assert webhook_path("county") == "/webhooks/telegram/county"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"secret_token": SECRET}, "token: Field required"),
        ({"token": TOKEN}, "secret_token: Field required"),
        ({**GOOD, "token": "not-a-token"}, "token: the token looks wrong"),
        ({**GOOD, "secret_token": "short"}, "secret_token: secret_token must be 16 to 256"),
        ({**GOOD, "secret_token": "has spaces in it ok?"}, "secret_token: secret_token must be"),
        ({**GOOD, "api_base": "ftp://x"}, "api_base: must start with"),
        ({**GOOD, "tokne": "x"}, "tokne: unknown setting"),
        ({**GOOD, "reply_budget_seconds": 0}, "reply_budget_seconds"),
    ],
    ids=[
        "no-token",
        "no-secret",
        "bad-token",
        "short-secret",
        "odd-secret",
        "bad-api-base",
        "misspelt",
        "zero-budget",
    ],
)
def test_mistakes_are_named(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsProblem) as caught:
        parse_settings("county", raw)
    message = str(caught.value)
    assert message.startswith("telegram settings of bot 'county': ")
    assert problem in message
    assert TOKEN not in message and SECRET not in message


def test_configure_takes_only_the_bots_it_serves() -> None:
    channel = TelegramChannel()
    channel.configure(
        ChannelContext(
            bot_ids=("county", "town"),
            handle=_never,
            mailbox=Mailbox(),
            settings={"county": GOOD, "elsewhere": {"token": "broken"}},
        )
    )
    assert list(channel.settings) == ["county"]


def test_configure_fails_on_a_served_bot_with_bad_settings() -> None:
    channel = TelegramChannel()
    with pytest.raises(SettingsProblem, match="town"):
        channel.configure(
            ChannelContext(
                bot_ids=("county", "town"),
                handle=_never,
                mailbox=Mailbox(),
                settings={"county": GOOD, "town": {**GOOD, "secret_token": "x"}},
            )
        )


def test_capabilities() -> None:
    capabilities = TelegramChannel().capabilities
    assert (capabilities.max_length, capabilities.buttons, capabilities.concise) == (4096, True, False)
    assert TelegramChannel.name == "telegram"


async def _never(inbound: Any) -> Any:
    raise AssertionError("not used")
