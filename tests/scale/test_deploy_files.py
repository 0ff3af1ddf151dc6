"""The deployment files in docs/deploy/ stay in step with the code: their settings start the service,
and every `sunshine` command line they contain is one the CLI accepts."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.bootstrap import bootstrap
from bots.cli import app
from bots.settings import SettingsError, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
SECRETS = {
    "SUNSHINE_SECRET_KEY": "a-deployment-secret-for-the-test-0123456789",
    "SUNSHINE_DATABASE_URL": "postgresql+asyncpg://sunshine:password@127.0.0.1:5432/sunshine",
    "SUNSHINE_CHANNELS__SMS__COUNTY__AUTH_TOKEN": "twilio-auth-token",
    "SUNSHINE_CHANNELS__WECHAT__COUNTY__APP_SECRET": "wechat-app-secret",
    "SUNSHINE_CHANNELS__WECHAT__COUNTY__TOKEN": "wechatToken123",
    "SUNSHINE_CHANNELS__WECHAT__COUNTY__ENCODING_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
}


def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, without: str | None = None) -> None:
    for name, value in SECRETS.items():
        if name != without:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("SUNSHINE_DATA_DIR", str(tmp_path))


async def test_the_shared_settings_start_a_process_on_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _environment(monkeypatch, tmp_path)
    settings = load_settings(DEPLOY / "sunshine.toml")

    deployment = bootstrap(settings, password_cost="fast")  # builds everything; connects to nothing yet
    try:
        assert not deployment.services.database.is_sqlite
        assert deployment.dispatcher.lease.total_seconds() == settings.policy.outbox_lease_seconds
        assert deployment.bot_channels["county"] == {"webchat", "sms", "wechat"}
    finally:
        await deployment.close()


def test_processes_sharing_a_database_must_be_given_the_secret_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _environment(monkeypatch, tmp_path, without="SUNSHINE_SECRET_KEY")
    monkeypatch.delenv("SUNSHINE_SECRET_KEY", raising=False)

    with pytest.raises(SettingsError, match="SUNSHINE_SECRET_KEY"):
        bootstrap(load_settings(DEPLOY / "sunshine.toml"), password_cost="fast")
    assert not (tmp_path / "secret.key").exists()


def _command_lines() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    for listed in re.findall(r"^\s*command: (\[.*\])\s*$", compose, flags=re.MULTILINE):
        words = json.loads(listed)
        if words[0] != "postgres":
            found.append(("compose.yaml", words))
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    found += [("Dockerfile", json.loads(m)) for m in re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)]
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        for line in re.findall(
            r"^ExecStart=\S+/sunshine (.*)$", unit.read_text(encoding="utf-8"), re.MULTILINE
        ):
            found.append((unit.name, shlex.split(line.replace("%i", "8081"))))
    return found


def test_every_command_line_in_the_deployment_files_is_a_real_one() -> None:
    lines = _command_lines()
    assert {name for name, _ in lines} >= {
        "compose.yaml",
        "Dockerfile",
        "sunshine-migrate.service",
        "sunshine-web@.service",
        "sunshine-worker@.service",
    }
    runner = CliRunner()
    for where, words in lines:
        result = runner.invoke(app, [*words, "--help"])  # unknown commands or options fail before --help
        assert result.exit_code == 0, f"{where}: sunshine {' '.join(words)}\n{result.output}"
