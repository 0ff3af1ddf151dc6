"""The example configuration in docs/ must be one the service accepts, secrets coming from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.bootstrap import bootstrap
from bots.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "sunshine.example.toml"

SECRETS = {
    "SUNSHINE_SECRET_KEY": "an-example-deployment-secret-0123456789",
    "SUNSHINE_CHANNELS__SMS__COUNTY__AUTH_TOKEN": "twilio-auth-token",
    "SUNSHINE_CHANNELS__WECHAT__COUNTY__APP_SECRET": "wechat-app-secret",
    "SUNSHINE_CHANNELS__WECHAT__COUNTY__TOKEN": "wechatToken123",
    "SUNSHINE_CHANNELS__WECHAT__COUNTY__ENCODING_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "SUNSHINE_CHANNELS__TELEGRAM__COUNTY__TOKEN": "123456789:AAExampleExampleExampleExampleExam",
    "SUNSHINE_CHANNELS__TELEGRAM__COUNTY__SECRET_TOKEN": "a-telegram-secret-token",
}


async def test_the_example_configuration_starts_every_channel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SUNSHINE_DATA_DIR", str(tmp_path))
    settings = load_settings(EXAMPLE)

    deployment = bootstrap(settings, password_cost="fast")
    try:
        assert deployment.bot_channels["county"] == {"webchat", "sms", "wechat", "telegram"}
        assert set(deployment.channels) >= {"webchat", "sms", "wechat", "telegram"}
        assert deployment.services.profiles["county"].departments[0] == "县住建局"
        assert deployment.dispatcher.send_rates == {("sms", "county"): 50, ("telegram", "county"): 30}
    finally:
        await deployment.close()
