"""Take the desk screenshots in docs/: `uv run --locked python -m tests.desk.e2e.screenshots docs`.

A demo deployment on a fixed clock (a Monday morning), a few citizens waiting in the queue, and three
months of made-up ratings, photographed in Debian's Chromium. Not a test: run it when the pages change.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bots import demo
from bots.app import build_app
from bots.bootstrap import Deployment, bootstrap
from bots.settings import Settings
from core import handoff, ratings
from core.clock import FixedClock
from core.messages import Inbound
from tests.conftest import TEST_SECRET
from tests.desk.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, staff_login

NOW = datetime(2026, 3, 16, 2, 40, tzinfo=UTC)  # Monday 10:40 in Beijing
CITIZENS = [
    (40, "人工", "你好，我想问一下我家的低保为什么这个月没有到账？"),
    (26, "转人工", "危房改造的补助申请交上去两个月了，一直没有消息"),
    (12, "人工", "<b>医保</b>报销要带哪些材料？村里说要去县里办"),
    (5, "人工服务", "我们村的路灯坏了三个月了，晚上老人摔倒好几次"),
    (1, "人工", "在吗"),
]
DEPARTMENTS = {"县政务服务中心": 0.93, "县民政局": 0.86, "县人社局": 0.78, "县住建局": 0.7, "城关镇": 0.82}
STAFF = ["李敏", "王芳", "张伟", "刘洋", "陈静"]


async def populate(deployment: Deployment, clock: FixedClock) -> None:
    services = deployment.services
    rng = random.Random(7)
    for days in range(90, 0, -1):
        clock.set(NOW)
        clock.advance(days=-days, hours=rng.randint(0, 6))
        async with services.database.transaction() as session:
            b = services.backend(session)
            for department, good in DEPARTMENTS.items():
                for _ in range(rng.randint(0, 3)):
                    trend = good + (90 - days) / 90 * 0.06
                    grade = (
                        1
                        if rng.random() < trend * 0.75
                        else 2
                        if rng.random() < trend
                        else rng.choice((3, 3, 4))
                    )
                    await ratings.record(
                        b,
                        bot_id=demo.DEMO_BOT_ID,
                        channel="sms",
                        grade=grade,
                        department=department,
                        window=f"{rng.randint(1, 6)}号窗口",
                        staff_name=rng.choice(STAFF),
                    )
    for index, (minutes, ask, words) in enumerate(CITIZENS):
        clock.set(NOW)
        clock.advance(minutes=-minutes)
        session_id = f"{index:032x}"
        for number, text in enumerate((ask, words)):
            inbound = Inbound("webchat", demo.DEMO_BOT_ID, session_id, f"{session_id}:{number}", text)
            await deployment.handle(inbound)
    clock.set(NOW)
    async with services.database.transaction() as session:
        b = services.backend(session)
        [first, *_] = await handoff.list_open(b)
        await handoff.staff_reply(
            b, first.id, staff=demo.DEMO_STAFF_USERNAME, text="您好，请告诉我户主姓名和所在村。"
        )


async def main(out: Path) -> None:
    from playwright.async_api import async_playwright

    clock = FixedClock(NOW)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key=TEST_SECRET)
        deployment = bootstrap(settings, demo_mode=True, password_cost="fast", clock=clock)
        await deployment.services.database.upgrade()
        seeded = await demo.seed(deployment.services)
        await populate(deployment, clock)
        runner = web.AppRunner(build_app(deployment, dispatch=False), shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 720}, locale="zh-CN")
                assert seeded.staff_password is not None
                await staff_login(page, base, demo.DEMO_STAFF_USERNAME, seeded.staff_password)
                await page.locator("#live-state[data-state=open]").wait_for()
                await page.keyboard.press("j")
                await page.screenshot(path=str(out / "desk-queue.png"))
                await page.goto(base + "/desk/ratings?period=90")
                await page.screenshot(path=str(out / "desk-ratings.png"), full_page=True)
                await browser.close()
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
