"""Settings come from one TOML file and SUNSHINE_* variables; a bad file is one clear message."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from bots.bootstrap import bot_settings, build_policy, build_profiles
from bots.settings import SettingsError, load_settings

GOOD = """
public_base_url = "https://gov.example.cn/"
port = 9000
timezone = "Asia/Shanghai"

[policy]
answer_days = { complaint = 10 }
survey_expiry_hours = 48
holidays = [2026-10-09]
workdays = ["2026-09-27"]

[bots.county]
name = "阳光县"
language = "zh_Hant"
channels = ["webchat"]
departments = ["县民政局", "城关镇"]
office_hours = { weekdays = [0, 1, 2, 3, 4, 5], opens = "09:00", closes = "17:00" }
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SUNSHINE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sunshine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_describes_the_deployment(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))

    assert settings.port == 9000
    assert settings.base_url == "https://gov.example.cn"
    assert settings.database == "sqlite+aiosqlite:///data/sunshine.db"
    assert settings.secret_key is None
    profile = build_profiles(settings.bots)["county"]
    assert (profile.name, profile.default_language, profile.departments) == (
        "阳光县",
        "zh_Hant",
        ("县民政局", "城关镇"),
    )
    assert profile.office_hours.weekdays == frozenset(range(6))
    assert (profile.office_hours.opens, profile.office_hours.closes) == ("09:00", "17:00")
    policy = build_policy(settings)
    assert policy.answer_days == {"complaint": 10, "tip": 30, "suggestion": 15, "question": 5}
    assert policy.survey_expiry_hours == 48
    assert policy.lookup_lock_after == 5  # not overridden: the built-in default
    assert policy.extra_holidays == frozenset({date(2026, 10, 9)})
    assert policy.extra_workdays == frozenset({date(2026, 9, 27)})


def test_the_environment_wins_and_carries_the_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUNSHINE_SECRET_KEY", "an-environment-secret-0123456789")
    monkeypatch.setenv("SUNSHINE_PORT", "9100")
    monkeypatch.setenv("SUNSHINE_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SUNSHINE_POLICY__SURVEY_EXPIRY_HOURS", "24")

    settings = load_settings(write(tmp_path, GOOD))

    assert settings.port == 9100
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "an-environment-secret-0123456789"
    assert "an-environment-secret" not in repr(settings)
    assert settings.database == f"sqlite+aiosqlite:///{tmp_path / 'state' / 'sunshine.db'}"
    assert settings.policy.survey_expiry_hours == 24
    assert settings.policy.holidays == [date(2026, 10, 9)]  # the rest of the file's table stays


def test_without_any_file_the_defaults_serve_the_demo(tmp_path: Path) -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.bots) == ("127.0.0.1", 8080, {})
    assert set(bot_settings(settings, demo_mode=True)) == {"demo"}
    with pytest.raises(SettingsError, match=r"no bots configured"):
        bot_settings(settings, demo_mode=False)


def test_the_default_file_is_picked_up_from_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path, "port = 8111\n")
    assert load_settings().port == 8111


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"missing\.toml: no such configuration file"):
        load_settings(tmp_path / "missing.toml")


def test_broken_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9000\n[bots.county\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    assert str(raised.value).startswith(f"{path}: not valid TOML: ")
    assert "line 2" in str(raised.value)


def test_every_wrong_setting_is_named_with_its_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
port = "eighty"
timezone = "Mars/Olympus"
[policy]
answer_days = { lawsuit = 3 }
[bots.county]
language = "fr"
channels = []
office_hours = { opens = "8:30" }
colour = "red"
""",
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert (
        message.splitlines()[0] == f"{path}: 7 problem(s) (the file, or a SUNSHINE_* environment variable):"
    )
    assert "  port: Input should be a valid integer, unable to parse string as an integer" in message
    assert "  timezone: unknown time zone 'Mars/Olympus'; use a name like Asia/Shanghai" in message
    assert "  policy.answer_days: unknown case kind(s) lawsuit;" in message
    assert "  bots.county.language: unknown language 'fr'; known: zh_Hans, zh_Hant, en" in message
    assert "  bots.county.channels: a bot needs at least one channel" in message
    assert (
        "  bots.county.office_hours.opens: a time of day is written HH:MM, like 08:30, not '8:30'" in message
    )
    assert "  bots.county.colour: unknown setting (misspelt?)" in message
    assert "Traceback" not in message


def test_a_bot_id_must_fit_in_a_url(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"bot id 'County Hall'"):
        load_settings(write(tmp_path, '[bots."County Hall"]\nname = "x"\n'))


def test_a_bad_environment_variable_is_reported_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNSHINE_PORT", "0")
    with pytest.raises(SettingsError, match=r"port: Input should be greater than or equal to 1"):
        load_settings()
