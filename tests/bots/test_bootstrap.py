"""The bootstrap hands every channel one context with its settings per bot and the service's callables."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web

from bots.bootstrap import bootstrap
from bots.settings import Settings, SettingsError
from channels import registry
from channels.base import ChannelContext, Delivery
from core import outbox
from core.messages import Capabilities, Outbound
from storage.models import OutboxMessage
from tests.conftest import TEST_SECRET


class Pigeon:
    """A third-party channel, found through an entry point like any other."""

    name = "pigeon"
    capabilities = Capabilities(max_length=140)
    instances: ClassVar[list[Pigeon]] = []

    def __init__(self) -> None:
        self.configured: list[ChannelContext] = []
        self.closed = False
        Pigeon.instances.append(self)

    def configure(self, context: ChannelContext) -> None:
        for bot_id, table in context.settings.items():
            if "loft" not in table:
                raise ValueError(f"bot {bot_id}: loft is required")
        self.configured.append(context)

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        return []

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        return Delivery(ok=True, provider_message_id="coo-1")

    async def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def pigeon_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = registry.available()
    point = EntryPoint("pigeon", f"{__name__}:Pigeon", registry.GROUP)
    monkeypatch.setattr(registry, "available", lambda: {**installed, "pigeon": point})
    Pigeon.instances.clear()


def settings(tmp_path: Path, **fields: Any) -> Settings:
    bots = {
        "county": {"channels": ["webchat", "pigeon"]},
        "town": {"channels": ["webchat"]},
    }
    return Settings(
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        public_base_url="https://gov.example.cn",
        bots=bots,
        **fields,
    )


async def test_a_channel_is_configured_with_its_bots_tables_and_the_service(tmp_path: Path) -> None:
    tables = {"pigeon": {"county": {"loft": "north"}}}
    deployment = bootstrap(settings(tmp_path, channels=tables), password_cost="fast")
    try:
        await deployment.services.database.upgrade()
        [pigeon] = Pigeon.instances
        [context] = pigeon.configured
        assert isinstance(context, ChannelContext)
        assert context is deployment.context_for("pigeon")  # one context per channel, always the same
        assert tuple(context.bot_ids) == ("county",)
        assert context.settings == {"county": {"loft": "north"}}
        assert context.public_base_url == "https://gov.example.cn"
        assert deployment.context_for("webchat").bot_ids == ("county", "town")
        assert deployment.senders["pigeon"] is pigeon

        assert context.unit_of_work is not None
        async with context.unit_of_work() as b:
            row = await outbox.enqueue(
                b, bot_id="county", channel="pigeon", address="roof 3", outbound=Outbound("coo")
            )
        assert await deployment.dispatcher.run_once() == 1
        assert context.report_status is not None
        assert await context.report_status("coo-1", "delivered", None) is True
        assert await context.report_status("someone-elses", "delivered", None) is False
        async with deployment.services.database.reading() as session:
            sent = await session.get(OutboxMessage, row.id)
        assert sent is not None and sent.status == "delivered"
    finally:
        await deployment.close()
    assert pigeon.closed


def test_a_channel_rejecting_its_settings_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^channel pigeon: bot county: loft is required$"):
        bootstrap(settings(tmp_path, channels={"pigeon": {"county": {}}}), password_cost="fast")


def test_a_channel_table_for_an_unknown_bot_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"channels\.pigeon\.city: there is no bot 'city'"):
        bootstrap(settings(tmp_path, channels={"pigeon": {"city": {"loft": "x"}}}), password_cost="fast")
