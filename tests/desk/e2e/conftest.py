"""A real desk in a real browser: the demo deployment served on a free port, Debian's Chromium driven
by Playwright. Never `playwright install`: CI installs the `chromium` package with apt."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bots import demo
from bots.app import build_app
from bots.bootstrap import Deployment, bootstrap
from bots.settings import Settings
from tests.conftest import NO_CHROMIUM, TEST_SECRET

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() and shutil.which(str(CHROMIUM)):
        return
    # Said again at the end of the run by tests/conftest.py, which repeats skips of this kind.
    skip = pytest.mark.skip(reason=f"{NO_CHROMIUM}: {CHROMIUM} does not exist (Debian's chromium package)")
    for item in items:
        if "tests/desk/e2e" in str(item.fspath):
            item.add_marker(skip)


@dataclass
class Live:
    deployment: Deployment
    base: str
    staff_password: str


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """The whole service, dispatcher included, on 127.0.0.1 and a free port; SQLite only, to stay fast."""
    settings = Settings(
        data_dir=tmp_path, secret_key=TEST_SECRET, database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    )
    deployment = bootstrap(settings, demo_mode=True, password_cost="fast")
    await deployment.services.database.upgrade()
    seeded = await demo.seed(deployment.services)
    assert seeded.staff_password is not None
    runner = web.AppRunner(build_app(deployment), shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Live(deployment, f"http://{host}:{port}", seeded.staff_password)
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Any) -> Any:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


async def open_chat(page: Any, base: str) -> None:
    """The web chat, once its script has started (it greets a first visit with a welcome)."""
    await page.goto(base + "/chat/demo")
    await page.locator("#log .welcome").wait_for()


async def citizen_says(page: Any, text: str, expect: str | None = None) -> None:
    """Type a message in the web chat and wait for the bot's answer to contain `expect`."""
    await page.locator("#send:not([disabled])").wait_for()
    before = await page.locator("#log .message").count()
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await page.wait_for_function("n => document.querySelectorAll('#log .message').length > n", arg=before)
    if expect is not None:
        await page.locator("#log .message.bot").filter(has_text=expect).last.wait_for()


async def staff_login(page: Any, base: str, username: str, password: str) -> None:
    await page.goto(base + "/desk/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r".*/desk/queue$"))
