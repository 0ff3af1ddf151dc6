"""One bot's Twilio settings, checked when the service starts rather than at the first message.

The raw table comes from the configuration file and `SUNSHINE_*` variables; a mistake is reported by
field name only, never with the value, because the values include the auth token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from channels.settings import describe_problems


class SmsSettingsError(ValueError):
    """The SMS settings of a bot are incomplete or wrong; the message names the bot and the fields."""


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("https://", "http://")) or len(value) < 10:
        raise ValueError("must be an http:// or https:// address")
    return value.rstrip("/")


class SmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=1)
    from_number: str | None = Field(default=None, min_length=1, max_length=32)
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    api_base: str | None = None  # where the Twilio REST API is; a local fake in tests
    public_base_url: str | None = None  # how Twilio reaches this bot, when it differs from the service's
    max_per_second: float = Field(default=1.0, gt=0, le=100)  # messages per second to one number

    @field_validator("api_base", "public_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _http_url(value)

    @model_validator(mode="after")
    def _sender(self) -> SmsSettings:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("from_number or messaging_service_sid is required")
        return self


def parse_settings(bot_id: str, raw: Mapping[str, Any]) -> SmsSettings:
    try:
        return SmsSettings.model_validate(dict(raw))
    except ValidationError as exc:
        raise SmsSettingsError(f"SMS settings of bot {bot_id!r}: {describe_problems(exc)}") from None
