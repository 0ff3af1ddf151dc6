"""`sunshine telegram poll` and `set-webhook`: the work behind the commands, against the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bots.cli_common import CommandError
from bots.cli_telegram import app, queueing_handler, run_polling, set_webhooks, telegram_of
from bots.dispatcher import Dispatcher
from bots.pipeline import Pipeline, Services
from channels import registry
from channels.base import ChannelContext
from channels.telegram import TelegramChannel
from tests.channels.telegram import builders as b
from tests.channels.telegram.conftest import BOT, SECRET, TOKEN, Mailbox, bot_settings, count_outbox
from tests.fakes.telegram_api import FakeTelegram


def test_the_commands_are_there() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "poll" in result.output and "set-webhook" in result.output


async def test_poll_deletes_the_webhook_answers_and_stops_when_told(
    channel: TelegramChannel, fake: FakeTelegram, pipeline: Pipeline, services: Services, tmp_path: Path
) -> None:
    fake.webhook = {"url": "https://example.org/webhooks/telegram/county"}
    fake.push_update(b.text(10, "你好"))
    dispatcher = Dispatcher(services, {"telegram": channel}, idle_seconds=0.05)
    handle = queueing_handler(pipeline, channel.capabilities, dispatcher)
    stop = asyncio.Event()

    async def stop_when_sent() -> None:
        while not fake.called("sendMessage"):
            await asyncio.sleep(0.02)
        stop.set()

    watcher = asyncio.create_task(stop_when_sent())
    await asyncio.wait_for(
        run_polling(channel, [BOT], handle, dispatcher, tmp_path, stop, delete_webhook=True), 10
    )
    await watcher

    assert fake.webhook is None
    assert (tmp_path / "county.offset").read_text() == "11\n"
    assert await count_outbox(services, "sent") == 1


async def test_poll_with_a_webhook_in_the_way_says_what_to_do(
    channel: TelegramChannel, fake: FakeTelegram, pipeline: Pipeline, services: Services, tmp_path: Path
) -> None:
    fake.webhook = {"url": "https://example.org/webhooks/telegram/county"}
    dispatcher = Dispatcher(services, {"telegram": channel}, idle_seconds=0.05)
    handle = queueing_handler(pipeline, channel.capabilities, dispatcher)

    with pytest.raises(CommandError, match="--delete-webhook"):
        await asyncio.wait_for(run_polling(channel, [BOT], handle, dispatcher, tmp_path, asyncio.Event()), 10)


async def test_set_webhook_registers_the_public_url_with_the_secret(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    done = await set_webhooks(channel, [BOT], "https://sunshine.example.org/", drop_pending=True)

    url = "https://sunshine.example.org/webhooks/telegram/county"
    assert done == [(BOT, url)]
    assert fake.webhook == {
        "url": url,
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
        "drop_pending_updates": "true",
    }


async def test_a_bot_public_url_wins_over_the_deployment_one(fake: FakeTelegram) -> None:
    telegram = TelegramChannel()
    settings = {BOT: bot_settings(fake, public_base_url="https://tg.county.example.org")}
    telegram.configure(ChannelContext(bot_ids=(BOT,), handle=_never, mailbox=Mailbox(), settings=settings))
    try:
        [(_, url)] = await set_webhooks(telegram, [BOT], "https://sunshine.example.org")
    finally:
        await telegram.close()
    assert url == "https://tg.county.example.org/webhooks/telegram/county"


@pytest.mark.parametrize(
    ("base", "problem"), [("", "no public_base_url"), ("http://sunshine.example.org", "only calls https")]
)
async def test_set_webhook_needs_a_public_https_address(
    channel: TelegramChannel, fake: FakeTelegram, base: str, problem: str
) -> None:
    with pytest.raises(CommandError, match=problem):
        await set_webhooks(channel, [BOT], base)
    assert fake.calls == []


async def test_set_webhook_reports_telegram_refusing(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.fail("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    with pytest.raises(CommandError, match="bad webhook"):
        await set_webhooks(channel, [BOT], "https://sunshine.example.org")


@dataclass
class FakeDeployment:
    channels: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def context_for(self, name: str) -> ChannelContext:
        return ChannelContext(
            bot_ids=tuple(self.settings), handle=_never, mailbox=Mailbox(), settings=self.settings
        )


def test_the_bots_to_work_on(fake: FakeTelegram) -> None:
    settings = {BOT: bot_settings(fake), "town": bot_settings(fake)}
    deployment: Any = FakeDeployment({"telegram": TelegramChannel()}, settings)

    _, bots = telegram_of(deployment, None)
    assert bots == ["county", "town"]
    assert telegram_of(deployment, "town")[1] == ["town"]
    with pytest.raises(CommandError, match="'city' has no telegram settings"):
        telegram_of(deployment, "city")
    with pytest.raises(CommandError, match="no bot uses the telegram channel"):
        telegram_of(FakeDeployment({}), None)  # type: ignore[arg-type]
    broken: Any = FakeDeployment(
        {"telegram": TelegramChannel()}, {BOT: {"token": "nope", "secret_token": SECRET}}
    )
    with pytest.raises(CommandError, match="token looks wrong"):
        telegram_of(broken, None)


async def _never(inbound: Any) -> Any:
    raise AssertionError("not used")


# ---------------------------------------------------------------- the commands as an operator runs them

# Until pyproject.toml declares the channel, the commands are pointed at it here (and in the subprocess).
TELEGRAM_ENTRY_POINT = EntryPoint("telegram", "channels.telegram:TelegramChannel", registry.GROUP)
REGISTER = (
    "from importlib.metadata import EntryPoint\n"
    "from channels import registry\n"
    "installed = registry.available\n"
    "point = EntryPoint('telegram', 'channels.telegram:TelegramChannel', registry.GROUP)\n"
    "registry.available = lambda: {'telegram': point, **installed()}\n"
)


def with_telegram(installed: Callable[[], dict[str, EntryPoint]]) -> Callable[[], dict[str, EntryPoint]]:
    return lambda: {"telegram": TELEGRAM_ENTRY_POINT, **installed()}


def config_file(tmp_path: Path, fake: FakeTelegram) -> Path:
    path = tmp_path / "sunshine.toml"
    path.write_text(
        f"""
public_base_url = "https://sunshine.example.org"

[bots.county]
channels = ["telegram"]
departments = ["县民政局"]

[channels.telegram.county]
token = "{TOKEN}"
secret_token = "{SECRET}"
api_base = "{fake.base_url}"
""",
        encoding="utf-8",
    )
    return path


def operator_env(tmp_path: Path) -> dict[str, str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SUNSHINE_")}
    return {
        **clean,
        "SUNSHINE_DATA_DIR": str(tmp_path / "data"),
        "SUNSHINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cli.db'}",
    }


async def test_set_webhook_command(
    tmp_path: Path, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "available", with_telegram(registry.available))
    for name, value in operator_env(tmp_path).items():
        monkeypatch.setenv(name, value)

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["set-webhook", "--config", str(config_file(tmp_path, fake))]
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "county: https://sunshine.example.org/webhooks/telegram/county"
    assert fake.webhook is not None and fake.webhook["secret_token"] == SECRET


async def test_poll_command_answers_and_stops_cleanly_on_ctrl_c(tmp_path: Path, fake: FakeTelegram) -> None:
    fake.max_long_poll = 30
    fake.push_update(b.text(10, "你好"))
    code = REGISTER + "import sys\nfrom bots.cli_telegram import app\napp(sys.argv[1:])\n"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "dev",
        "-c",
        code,
        "poll",
        "--config",
        str(config_file(tmp_path, fake)),
        env=operator_env(tmp_path),
        cwd=str(Path(__file__).resolve().parents[3]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while not fake.called("sendMessage"):
                await asyncio.sleep(0.05)
            while len(fake.called("getUpdates")) < 2:  # polling again, long: Ctrl-C must cut it short
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(15):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    errors = stderr.decode()
    assert process.returncode == 0, errors
    assert "telegram polling stopped" in errors
    assert "Unclosed" not in errors and "Traceback" not in errors
    assert (tmp_path / "data" / "telegram" / "county.offset").read_text() == "11\n"
    assert "阳光" in fake.called("sendMessage")[0].params["text"]
