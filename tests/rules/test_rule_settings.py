"""The rules an operator tunes in sunshine.toml: deadlines, quiet hours, pacing, correction window and the
staff phones that get deadline SMS; and the quiet-hours arithmetic itself."""

from __future__ import annotations

import os
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.bootstrap import build_policy
from bots.settings import SettingsError, load_settings
from core import quiet_hours
from core.policy import Policy

BEIJING = ZoneInfo("Asia/Shanghai")
TUNED = """
[policy]
accept_days = { complaint = 3 }
reminder_days = 2
red_after_days = 10
rating_correction_minutes = 5
quiet_hours = ["22:00", "07:30"]
survey_rate_per_minute = 10

[bots.county]
departments = ["县住建局", "县民政局"]
channels = ["webchat"]
staff_phones = { "县住建局" = "139 0000 0001" }
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SUNSHINE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "sunshine.toml"
    path.write_text(text, encoding="utf-8")
    return build_policy(load_settings(path))


def test_tuned_rules_reach_the_policy(tmp_path: Path) -> None:
    policy = load(tmp_path, TUNED)
    assert policy.accept_days == {**Policy().accept_days, "complaint": 3}
    assert (policy.reminder_days, policy.red_after_days, policy.rating_correction_minutes) == (2, 10, 5)
    assert policy.quiet_hours == (time(22, 0), time(7, 30))
    assert policy.survey_rate_per_minute == 10
    settings = load_settings(tmp_path / "sunshine.toml")
    assert settings.bots["county"].staff_phones == {"县住建局": "+8613900000001"}


def test_defaults_and_no_quiet_hours(tmp_path: Path) -> None:
    assert load(tmp_path, "") == Policy()
    assert load(tmp_path, "[policy]\nquiet_hours = []\n").quiet_hours is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[policy]\nquiet_hours = ["21:00"]\n', "quiet_hours is two times of day"),
        ("[policy]\naccept_days = { petition = 3 }\n", "unknown case kind"),
        (
            '[bots.county]\ndepartments = ["县住建局"]\nstaff_phones = { "县教育局" = "13900000001" }\n',
            "县教育局",
        ),
        ('[bots.county]\nstaff_phones = { "县住建局" = "0571-88886666" }\n', "not a mobile number"),
    ],
)
def test_wrong_rules_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(tmp_path, text)


NIGHT = (time(21, 0), time(8, 0))
LUNCH = (time(12, 0), time(14, 0))


@pytest.mark.parametrize(
    ("quiet", "local", "allowed"),
    [
        (NIGHT, datetime(2026, 3, 2, 20, 59), datetime(2026, 3, 2, 20, 59)),
        (NIGHT, datetime(2026, 3, 2, 21, 0), datetime(2026, 3, 3, 8, 0)),
        (NIGHT, datetime(2026, 3, 3, 3, 0), datetime(2026, 3, 3, 8, 0)),
        (NIGHT, datetime(2026, 3, 3, 8, 0), datetime(2026, 3, 3, 8, 0)),
        (LUNCH, datetime(2026, 3, 2, 12, 30), datetime(2026, 3, 2, 14, 0)),
        (LUNCH, datetime(2026, 3, 2, 22, 0), datetime(2026, 3, 2, 22, 0)),
        (None, datetime(2026, 3, 2, 23, 0), datetime(2026, 3, 2, 23, 0)),
    ],
)
def test_next_allowed(quiet: quiet_hours.QuietHours, local: datetime, allowed: datetime) -> None:
    when = local.replace(tzinfo=BEIJING)
    assert quiet_hours.next_allowed(when, quiet, BEIJING) == allowed.replace(tzinfo=BEIJING)


def test_held_over_means_a_quiet_period_comes_first() -> None:
    evening = datetime(2026, 3, 2, 20, 0, tzinfo=BEIJING)
    assert not quiet_hours.held_over(evening, evening.replace(hour=20, minute=59), NIGHT, BEIJING)
    assert quiet_hours.held_over(evening, datetime(2026, 3, 3, 8, 0, tzinfo=BEIJING), NIGHT, BEIJING)
    assert quiet_hours.held_over(evening.replace(hour=23), evening.replace(hour=23), NIGHT, BEIJING)
