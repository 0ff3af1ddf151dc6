"""One bot's Telegram settings: its token, the webhook's secret, where the Bot API and we are reached.

Validated when the channel is configured, so an operator learns of a malformed token or secret at
start-up instead of from Telegram refusing every call (or, worse, from every webhook getting a 403).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from channels.settings import describe_problems

DEFAULT_API_BASE = "https://api.telegram.org"
WEBHOOK_PREFIX = "/webhooks/telegram"

_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")  # what @BotFather hands out
_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows 1-256 of these; 16 keeps it unguessable


class SettingsProblem(ValueError):
    """Settings an operator must fix; the message names the setting, never a secret's value."""


class TelegramBotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    secret_token: SecretStr
    api_base: str = DEFAULT_API_BASE
    public_base_url: str | None = None  # default: the deployment's public_base_url
    # How long a webhook waits for the conversation step before leaving the replies to the outbox.
    reply_budget_seconds: float = Field(default=10.0, gt=0, le=50)
    api_timeout_seconds: float = Field(default=20.0, gt=0, le=120)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN.match(value.get_secret_value()):
            raise ValueError("the token looks wrong (expected the 123456789:AA... token from @BotFather)")
        return value

    @field_validator("secret_token")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if not _SECRET.match(value.get_secret_value()):
            raise ValueError("secret_token must be 16 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("api_base", "public_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def webhook_path(bot_id: str) -> str:
    return f"{WEBHOOK_PREFIX}/{bot_id}"


def webhook_url(bot_id: str, settings: TelegramBotSettings, deployment_base_url: str = "") -> str:
    """The https address Telegram is told to call; Telegram calls nothing else."""
    base = settings.public_base_url or deployment_base_url.rstrip("/")
    if not base:
        raise SettingsProblem(
            f"telegram settings of bot {bot_id!r}: no public_base_url (set it for the bot or the deployment)"
        )
    if not base.startswith("https://"):
        raise SettingsProblem(
            f"telegram settings of bot {bot_id!r}: Telegram only calls https:// addresses, not {base!r}"
        )
    return base + webhook_path(bot_id)


def parse_settings(bot_id: str, raw: Any) -> TelegramBotSettings:
    """The bot's settings, or a SettingsProblem listing every mistake."""
    try:
        return TelegramBotSettings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsProblem(f"telegram settings of bot {bot_id!r}: {describe_problems(exc)}") from None
