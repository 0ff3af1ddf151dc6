"""Deployment settings: one TOML file for what an operator configures, `SUNSHINE_*` variables for secrets.

The file is where a county describes its bots, departments and office hours; the environment is where
secrets and per-machine paths go, so they stay out of files that get copied around. The environment
wins over the file. Every problem is reported as a `SettingsError` naming the file and the setting,
because the reader is an operator at a terminal, not a developer reading a traceback.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from conversations import texts
from core.policy import CASE_KINDS
from core.survey_rows import normalize_phone

DEFAULT_CONFIG = Path("sunshine.toml")
BOT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # appears in URLs and table keys
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# A key of a channel's per-bot table that the outbox dispatcher reads, not the channel.
SEND_RATE = "send_rate_per_second"
MAX_SEND_RATE = 100_000


class SettingsError(Exception):
    """A configuration an operator must fix; the message says where and what."""


class _Table(BaseModel):
    # A misspelt key in the file would otherwise be silently ignored and its default used.
    model_config = ConfigDict(extra="forbid")


class OfficeHoursSettings(_Table):
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])  # Monday = 0
    opens: str = "08:30"
    closes: str = "17:30"

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 <= day <= 6 for day in value):
            raise ValueError("weekdays are numbers 0 (Monday) to 6 (Sunday), at least one")
        return sorted(set(value))

    @field_validator("opens", "closes")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _CLOCK_TIME.match(value):
            raise ValueError(f"a time of day is written HH:MM, like 08:30, not {value!r}")
        return value

    @model_validator(mode="after")
    def _order(self) -> OfficeHoursSettings:
        if self.opens >= self.closes:
            raise ValueError(f"opens ({self.opens}) must be before closes ({self.closes})")
        return self


class BotSettings(_Table):
    name: str = "阳光政务"
    language: str = "zh_Hans"
    channels: list[str] = Field(default_factory=lambda: ["webchat", "console"])
    departments: list[str] = Field(default_factory=list)
    office_hours: OfficeHoursSettings = Field(default_factory=OfficeHoursSettings)
    # Department → the staff mobile that gets deadline reminders and warnings by SMS (optional).
    staff_phones: dict[str, str] = Field(default_factory=dict)
    # Subsidy amounts only after a code sent by SMS to the phone on the payment record (needs "sms").
    subsidy_otp: bool = False

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in texts.LANGUAGES:
            raise ValueError(f"unknown language {value!r}; known: {', '.join(texts.LANGUAGES)}")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a bot needs at least one channel")
        return list(dict.fromkeys(value))

    @field_validator("departments")
    @classmethod
    def _departments(cls, value: list[str]) -> list[str]:
        cleaned = [name.strip() for name in value]
        if any(not name for name in cleaned):
            raise ValueError("department names must not be empty")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _otp_needs_sms(self) -> BotSettings:
        if self.subsidy_otp and "sms" not in self.channels:
            raise ValueError("subsidy_otp sends its codes by SMS: add 'sms' to this bot's channels")
        return self

    @model_validator(mode="after")
    def _staff_phones(self) -> BotSettings:
        phones: dict[str, str] = {}
        for department, raw in self.staff_phones.items():
            if self.departments and department not in self.departments:
                raise ValueError(f"staff_phones: {department!r} is not one of this bot's departments")
            phone = normalize_phone(raw)
            if phone is None:
                raise ValueError(f"staff_phones: the number for {department!r} is not a mobile number")
            phones[department] = phone
        self.staff_phones = phones
        return self


class PolicySettings(_Table):
    """Overrides of `core.policy.Policy`; anything left out keeps the built-in default."""

    answer_days: dict[str, int] = Field(default_factory=dict)
    lookup_hint_after: int | None = Field(default=None, ge=1)
    lookup_lock_after: int | None = Field(default=None, ge=1)
    lookup_window_minutes: int | None = Field(default=None, ge=1)
    lookup_lock_minutes: int | None = Field(default=None, ge=1)
    sender_lock_after: int | None = Field(default=None, ge=1)
    survey_expiry_hours: int | None = Field(default=None, ge=1)
    accept_days: dict[str, int] = Field(default_factory=dict)  # working days to decide on acceptance
    reminder_days: int | None = Field(default=None, ge=0)
    red_after_days: int | None = Field(default=None, ge=0)
    rating_correction_minutes: int | None = Field(default=None, ge=0)
    quiet_hours: list[str] | None = None  # ["21:00", "08:00"]; [] for none
    survey_rate_per_minute: int | None = Field(default=None, ge=1)
    duplicate_threshold: float | None = Field(default=None, ge=0, le=100)
    duplicate_sender_threshold: float | None = Field(default=None, ge=0, le=100)
    duplicate_window_days: int | None = Field(default=None, ge=1)
    duplicate_min_chars: int | None = Field(default=None, ge=1)
    outbox_lease_seconds: float | None = Field(default=None, ge=2, le=3600)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)  # make-up working days (调休) on weekends

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: list[str] | None) -> list[str] | None:
        if value is None or value == []:
            return value
        if len(value) != 2 or not all(_CLOCK_TIME.match(moment) for moment in value):
            raise ValueError('quiet_hours is two times of day, from and until, like ["21:00", "08:00"]')
        return value

    @field_validator("answer_days", "accept_days")
    @classmethod
    def _answer_days(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(CASE_KINDS))
        if unknown:
            raise ValueError(f"unknown case kind(s) {', '.join(unknown)}; known: {', '.join(CASE_KINDS)}")
        if any(days < 1 for days in value.values()):
            raise ValueError("answer days must be at least 1")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> PolicySettings:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"days listed both as holidays and as workdays: {', '.join(map(str, both))}")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUNSHINE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    database_url: str | None = None  # None: an SQLite file in data_dir
    # Connections each process keeps open to PostgreSQL, and as many again in a burst: the sum over all
    # processes must stay below the server's max_connections.
    database_pool_size: int = Field(default=10, ge=1, le=100)
    data_dir: Path = Path("data")
    secret_key: SecretStr | None = None  # None: a key file created in data_dir on first start
    public_base_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    timezone: str = "Asia/Shanghai"
    policy: PolicySettings = Field(default_factory=PolicySettings)
    bots: dict[str, BotSettings] = Field(default_factory=dict)
    # A channel's settings per bot: `[channels.telegram.county]`, secrets from the environment as
    # SUNSHINE_CHANNELS__TELEGRAM__COUNTY__TOKEN; each channel validates its own table.
    channels: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # (channel, bot id) → send_rate_per_second, taken out of the channel tables (see _send_rates_of).
    _send_rates: dict[tuple[str, str], int] = PrivateAttr(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use a name like Asia/Shanghai") from None
        return value

    @field_validator("bots")
    @classmethod
    def _bot_ids(cls, value: dict[str, BotSettings]) -> dict[str, BotSettings]:
        for bot_id in value:
            if not BOT_ID.match(bot_id):
                raise ValueError(
                    f"bot id {bot_id!r}: use lower-case letters, digits, '-' and '_' (it appears in URLs)"
                )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_base_url must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _send_rates_of(self) -> Settings:
        """`send_rate_per_second` sits in a channel's table, where an operator looks for a channel's
        limits, but the dispatcher holds it (core.send_rate), so the channel never sees it."""
        rates: dict[tuple[str, str], int] = {}
        tables: dict[str, dict[str, dict[str, Any]]] = {}
        for channel, bots in self.channels.items():
            tables[channel] = {}
            for bot_id, table in bots.items():
                table = dict(table)
                if SEND_RATE in table:
                    rates[(channel, bot_id)] = _send_rate(channel, bot_id, table.pop(SEND_RATE))
                tables[channel][bot_id] = table
        self.channels = tables
        self._send_rates = rates
        return self

    @property
    def send_rates(self) -> dict[tuple[str, str], int]:
        """(channel, bot id) → the most messages that bot may send on that channel in any one second."""
        return dict(self._send_rates)

    @property
    def database(self) -> str:
        """The database URL actually used."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'sunshine.db'}"

    @property
    def base_url(self) -> str:
        """Where people reach this deployment, for the links the CLI prints."""
        if self.public_base_url:
            return self.public_base_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def _send_rate(channel: str, bot_id: str, value: Any) -> int:
    """A whole number of messages per second (the environment gives text)."""
    where = f"channels.{channel}.{bot_id}.{SEND_RATE}"
    rate = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_SEND_RATE:
        raise ValueError(f"{where}: a whole number of messages per second, 1 to {MAX_SEND_RATE}")
    return rate


def load_settings(config: Path | None = None, *, environ_only: bool = False) -> Settings:
    """Settings from `config` (or ./sunshine.toml when it exists) and the environment.

    An explicitly named file must exist; the default one is optional, so the demo runs from an empty
    directory. `environ_only` skips files altogether.
    """
    path: Path | None
    if environ_only:
        path = None
    elif config is not None:
        if not config.is_file():
            raise SettingsError(f"{config}: no such configuration file")
        path = config
    else:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    data = _read_toml(path) if path is not None else {}
    where = str(path) if path is not None else "settings"
    try:
        return _backed_by(data)()
    except ValidationError as exc:
        raise SettingsError(_describe(where, exc)) from None
    except _SourceError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _backed_by(data: dict[str, Any]) -> type[Settings]:
    """A Settings class whose lowest-priority source is the parsed file, below the environment."""

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=data))

    return FileSettings


def _describe(where: str, exc: ValidationError) -> str:
    lines = [f"{where}: {exc.error_count()} problem(s) (the file, or a SUNSHINE_* environment variable):"]
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        lines.append(f"  {location}: {message}")
    return "\n".join(lines)
