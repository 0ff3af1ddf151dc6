"""The custom menu: its JSON, its limits, and `sunshine wechat menu` installing it on the fake API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bots.cli_wechat import app
from channels.wechat.menu import CLICK_WORDS, DEFAULT_MENU, Menu, MenuButton, MenuEntry
from conversations.understand import Intent, global_intent, menu_intent
from tests.channels.wechat.wire import TOKEN
from tests.fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChatApi

DEFAULT_JSON = {
    "button": [
        {
            "name": "办事",
            "sub_button": [
                {"type": "click", "name": "投诉举报", "key": "submit"},
                {"type": "click", "name": "查询进度", "key": "lookup"},
                {"type": "click", "name": "补贴查询", "key": "subsidy"},
            ],
        },
        {"type": "click", "name": "评价", "key": "rate"},
        {"type": "click", "name": "人工", "key": "human"},
    ]
}


def test_the_default_menu() -> None:
    assert DEFAULT_MENU.to_json() == DEFAULT_JSON


@pytest.mark.parametrize(
    ("key", "intent"),
    [
        ("submit", Intent.SUBMIT),
        ("lookup", Intent.LOOKUP),
        ("subsidy", Intent.SUBSIDY),
        ("rate", Intent.RATE),
        ("human", Intent.HUMAN),
        ("menu", Intent.MENU),
    ],
)
def test_every_menu_key_says_words_the_engine_understands(key: str, intent: Intent) -> None:
    words = CLICK_WORDS[key]
    assert (global_intent(words) or menu_intent(words)) is intent


@pytest.mark.parametrize(
    "build",
    [
        lambda: Menu(buttons=tuple(MenuButton(name=f"b{i}", key=f"k{i}") for i in range(4))),
        lambda: MenuButton(name="办事办事办事", key="x"),  # 18 bytes: over 16
        lambda: MenuButton(name="办事", key="x", sub_buttons=(MenuEntry(name="a", key="a"),)),
        lambda: MenuButton(name="办事"),
        lambda: MenuButton(
            name="办事", sub_buttons=tuple(MenuEntry(name=f"e{i}", key=f"k{i}") for i in range(6))
        ),
        lambda: MenuEntry(name="a", key="k" * 129),
    ],
    ids=["four buttons", "name too long", "key and sub_buttons", "neither", "six entries", "key too long"],
)
def test_menus_wechat_would_refuse_are_refused_here(build: object) -> None:
    with pytest.raises(ValidationError):
        build()  # type: ignore[operator]


def write_config(tmp_path: Path, wechat: str) -> Path:
    path = tmp_path / "sunshine.toml"
    path.write_text(
        f"""
[bots.county]
name = "阳光县政务服务"
channels = ["wechat"]

{wechat}
""",
        encoding="utf-8",
    )
    return path


def account_table(api_base: str, extra: str = "") -> str:
    return f"""
[channels.wechat.county]
token = "{TOKEN}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
api_base = "{api_base}"
{extra}
"""


@pytest.fixture(autouse=True)
def no_sunshine_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SUNSHINE_"):
            monkeypatch.delenv(name)


async def run(*args: str) -> tuple[int, str, str]:
    # In a thread: the command blocks on the API while the fake answers on this test's event loop.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_the_command_installs_the_default_menu(tmp_path: Path, fake_api: FakeWeChatApi) -> None:
    config = write_config(tmp_path, account_table(fake_api.api_base))

    code, _, stderr = await run("menu", "county", "--config", str(config))

    assert code == 0, stderr
    assert "menu installed for bot 'county'" in stderr
    assert [r.path for r in fake_api.requests] == ["/cgi-bin/token", "/cgi-bin/menu/create"]
    [created] = fake_api.calls("/cgi-bin/menu/create")
    assert created.query == {"access_token": "TOKEN-1"}
    assert created.json() == DEFAULT_JSON


async def test_the_command_installs_a_configured_menu(tmp_path: Path, fake_api: FakeWeChatApi) -> None:
    menu = """
[[channels.wechat.county.menu]]
name = "举报"
key = "submit"

[[channels.wechat.county.menu]]
name = "更多"
sub_buttons = [{ name = "低保查询", key = "低保" }, { name = "人工服务", key = "human" }]
"""
    config = write_config(tmp_path, account_table(fake_api.api_base, menu))

    code, _, stderr = await run("menu", "county", "--config", str(config))

    assert code == 0, stderr
    assert fake_api.calls("/cgi-bin/menu/create")[0].json() == {
        "button": [
            {"type": "click", "name": "举报", "key": "submit"},
            {
                "name": "更多",
                "sub_button": [
                    {"type": "click", "name": "低保查询", "key": "低保"},
                    {"type": "click", "name": "人工服务", "key": "human"},
                ],
            },
        ]
    }


async def test_print_shows_the_json_and_installs_nothing(tmp_path: Path, fake_api: FakeWeChatApi) -> None:
    config = write_config(tmp_path, account_table(fake_api.api_base))
    code, stdout, _ = await run("menu", "county", "--config", str(config), "--print")
    assert code == 0
    assert json.loads(stdout) == DEFAULT_JSON
    assert fake_api.requests == []


@pytest.mark.parametrize(
    ("wechat", "bot", "message"),
    [
        ("", "county", "bot 'county' has no WeChat settings: add a [channels.wechat.county] table"),
        ("ACCOUNT", "nobody", "no bot 'nobody' in the configuration (configured: county)"),
        ('[channels.wechat.county]\ntoken = "abc"', "county", "app_id: Field required"),
    ],
    ids=["no settings", "unknown bot", "incomplete settings"],
)
async def test_operator_mistakes_are_one_line(
    wechat: str, bot: str, message: str, tmp_path: Path, fake_api: FakeWeChatApi
) -> None:
    table = account_table(fake_api.api_base) if wechat == "ACCOUNT" else wechat
    code, _, stderr = await run("menu", bot, "--config", str(write_config(tmp_path, table)))
    assert code == 1
    assert stderr.startswith("error: ") and message in stderr
    assert fake_api.requests == []


async def test_wechat_refusing_the_menu_is_reported(tmp_path: Path, fake_api: FakeWeChatApi) -> None:
    fake_api.fail_next(40016, "invalid button size")
    config = write_config(tmp_path, account_table(fake_api.api_base))
    code, _, stderr = await run("menu", "county", "--config", str(config))
    assert code == 1
    assert "error: WeChat refused the menu: 40016 invalid button size" in stderr
