"""`sunshine survey send` as an operator runs it: a real subprocess on a temporary data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SUNSHINE = str(Path(sys.executable).with_name("sunshine"))
CSV = (
    "手机号,服务事项,窗口,工作人员,部门,办理时间\n"
    "13800138001,不动产登记,3号窗口,刘芳,县政务服务中心,2026-01-05 09:30\n"
    "13800138002,社保卡补办,7号窗口,,县政务服务中心,\n"
    "0571-88886666,营业执照办理,12号窗口,王强,县市场监管局,\n"
    "13800138004,户籍办理,1号窗口,,县外事办,\n"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SUNSHINE_")}
    return {
        **clean,
        "SUNSHINE_DATA_DIR": str(tmp_path / "data"),
        "SUNSHINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cli.db'}",
        "SUNSHINE_POLICY__QUIET_HOURS": "[]",  # the summary must not depend on the hour the test runs
    }


def sunshine(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUNSHINE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )


def count(summary: str, label: str) -> int:
    (line,) = [line for line in summary.splitlines() if line.strip().startswith(label)]
    return int(line.split()[-1])


def test_send_prints_a_summary_and_a_second_run_sends_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "visits.csv").write_bytes(CSV.encode("utf-8-sig"))

    dry = sunshine(tmp_path, env, "survey", "send", "visits.csv", "--demo", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "DRY RUN" in dry.stdout
    assert count(dry.stdout, "queued to send now") == 2

    sent = sunshine(tmp_path, env, "survey", "send", "visits.csv", "--demo")
    assert sent.returncode == 0, sent.stderr
    summary = sent.stdout
    assert "Survey campaign from visits.csv (bot demo, channel sms)" in summary
    assert count(summary, "rows read") == 4
    assert count(summary, "queued to send now") == 2
    assert count(summary, "invalid rows") == 2
    assert "line 4: not a mobile number" in summary
    assert "line 5: department '县外事办' is not configured" in summary
    assert "13800138" not in summary  # no phone numbers in a summary that gets forwarded
    assert "surveys" in sent.stderr  # the progress bar

    again = sunshine(tmp_path, env, "survey", "send", "visits.csv", "--demo")
    assert again.returncode == 0, again.stderr
    assert count(again.stdout, "skipped: already surveyed") == 2
    assert count(again.stdout, "queued to send now") == 0


def test_unusable_input_is_one_clear_line(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "names.csv").write_text("姓名,部门\n张三,县民政局\n", encoding="utf-8")
    result = sunshine(tmp_path, env, "survey", "send", "names.csv", "--demo")
    assert result.returncode == 1
    assert result.stderr.startswith("error: names.csv: no column for phone, service")
    assert "Traceback" not in result.stderr

    result = sunshine(tmp_path, env, "survey", "send", "names.csv", "--demo", "--channel", "telegram")
    assert result.returncode == 1
    assert "has no channel 'telegram'" in result.stderr
