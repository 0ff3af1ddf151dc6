"""One bot's official account: credentials, message mode, reply budget, API address and menu.

Validated strictly when the channel is configured, so an operator learns about a misspelt key or a
key of the wrong length at start-up rather than from WeChat refusing every message.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

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
from channels.wechat.menu import DEFAULT_MENU, Menu, MenuButton

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
# WeChat waits five seconds for the passive reply, then retries the same message (three tries).
WECHAT_WAIT_SECONDS = 5.0

_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")  # what the official account console accepts
_APP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")

Mode = Literal["plain", "compatible", "safe"]


class SettingsProblem(ValueError):
    """Settings an operator must fix; the message names the setting."""


class WeChatBotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    app_id: str
    app_secret: SecretStr
    encoding_aes_key: SecretStr | None = None
    mode: Mode = "plain"
    passive_budget_seconds: float = Field(default=4.0, gt=0, lt=WECHAT_WAIT_SECONDS)
    api_base: str = DEFAULT_API_BASE
    api_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # How far a callback's timestamp may be from our clock; 0 turns the check off.
    timestamp_tolerance_seconds: float = Field(default=300.0, ge=0)
    menu: tuple[MenuButton, ...] | None = None

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN.match(value.get_secret_value()):
            raise ValueError("the token is 3 to 32 letters or digits, as set in the official account console")
        return value

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str) -> str:
        if not _APP_ID.match(value):
            raise ValueError("app_id looks wrong (expected something like wx1234567890abcdef)")
        return value

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value()
        try:
            valid = bool(_AES_KEY.match(key)) and len(base64.b64decode(key + "=")) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ValueError("encoding_aes_key is the 43-character EncodingAESKey from the console")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("api_base must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _mode_needs_key(self) -> WeChatBotSettings:
        if self.mode != "plain" and self.encoding_aes_key is None:
            raise ValueError(f"mode {self.mode!r} needs encoding_aes_key")
        if self.menu is not None:
            Menu(buttons=self.menu)  # the menu's own limits (one to three buttons)
        return self

    @property
    def installed_menu(self) -> Menu:
        return Menu(buttons=self.menu) if self.menu is not None else DEFAULT_MENU


def parse_settings(bot_id: str, raw: Any) -> WeChatBotSettings:
    """The bot's settings, or a SettingsProblem listing every mistake (never the secrets' values)."""
    try:
        return WeChatBotSettings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsProblem(f"wechat settings of bot {bot_id!r}: {describe_problems(exc)}") from None
