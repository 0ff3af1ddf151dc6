"""The channel as the service runs it: loaded by the registry, configured by the bootstrap from the
settings file, its webhook mounted in the real app, its sessions closed with the deployment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bots.app import build_app
from bots.bootstrap import Deployment, bootstrap
from bots.settings import SettingsError, load_settings
from channels import registry
from channels.telegram import TelegramChannel
from core.clock import FixedClock
from tests.channels.telegram import builders as b
from tests.channels.telegram.conftest import CHAT, SECRET, TOKEN, MakeClient, post_update
from tests.channels.telegram.test_cli import with_telegram
from tests.conftest import START, TEST_SECRET
from tests.fakes.telegram_api import FakeTelegram


def settings_text(fake: FakeTelegram, **telegram: str) -> str:
    table = {"token": TOKEN, "secret_token": SECRET, "api_base": fake.base_url, **telegram}
    lines = "\n".join(f'{key} = "{value}"' for key, value in table.items())
    return f"""
secret_key = "{TEST_SECRET}"

[bots.county]
channels = ["telegram"]
departments = ["县民政局"]

[channels.telegram.county]
{lines}
"""


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(registry, "available", with_telegram(registry.available))
    monkeypatch.setenv("SUNSHINE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    monkeypatch.setenv("SUNSHINE_DATA_DIR", str(tmp_path / "data"))


def deploy(tmp_path: Path, text: str) -> Deployment:
    path = tmp_path / "sunshine.toml"
    path.write_text(text, encoding="utf-8")
    return bootstrap(load_settings(path), password_cost="fast", clock=FixedClock(START))


@pytest.fixture
async def service(
    tmp_path: Path, fake: FakeTelegram, aiohttp_client: MakeClient
) -> AsyncIterator[tuple[Deployment, TestClient]]:
    deployment = deploy(tmp_path, settings_text(fake))
    await deployment.services.database.upgrade()
    client = await aiohttp_client(build_app(deployment, dispatch=False))
    yield deployment, client


async def test_the_service_answers_a_telegram_message_in_the_webhook_response(
    service: tuple[Deployment, TestClient], fake: FakeTelegram
) -> None:
    deployment, client = service
    channel = deployment.channels["telegram"]
    assert isinstance(channel, TelegramChannel)

    response = await post_update(client, b.text(1, "你好"))

    assert response.status == 200
    body = await response.json()
    assert (body["method"], body["chat_id"]) == ("sendMessage", CHAT)
    assert "阳光政务" in body["text"]
    assert (await post_update(client, b.text(2, "你好"), secret="nope-nope-nope-nope")).status == 403
    # A button press answered through the API opened the bot's session; the deployment closes it.
    await post_update(client, b.press(3, "lookup", (("lookup", "查询办理进度"),)))
    session = channel.clients.bot("county").session
    await deployment.close()
    assert session._session is None or session._session.closed


async def test_a_wrong_token_stops_the_start_with_a_message(tmp_path: Path, fake: FakeTelegram) -> None:
    with pytest.raises(SettingsError, match="channel telegram: telegram settings of bot 'county': token"):
        deploy(tmp_path, settings_text(fake, token="not-a-token"))
