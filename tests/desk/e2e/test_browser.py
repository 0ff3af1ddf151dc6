"""The desk in Chromium, with a citizen in the web chat next to it."""

from __future__ import annotations

import re
from typing import Any

from bots import demo
from tests.desk.e2e.conftest import Live, citizen_says, new_page, open_chat, staff_login

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


async def test_a_citizen_escalates_and_the_staff_reply_reaches_the_web_chat(live: Live, browser: Any) -> None:
    staff = await new_page(browser)
    await staff_login(staff, live.base, demo.DEMO_STAFF_USERNAME, live.staff_password)
    await staff.locator("#live-state[data-state=open]").wait_for()

    citizen = await new_page(browser)
    await open_chat(citizen, live.base)
    await citizen_says(citizen, "人工", "人工服务")
    await citizen_says(citizen, "我家的低保停了")

    row = staff.locator("#queue-rows tr").filter(has_text="我家的低保停了")
    await row.wait_for()  # arrived by the event stream, without reloading
    await row.click()
    await staff.click("#claim")
    await staff.locator("#handoff-status").filter(has_text="处理中").wait_for()
    await staff.locator("#live-state[data-state=open]").wait_for()  # the page's script is running
    await staff.fill("#reply-text", "您好，我是民政局小王，请说说情况。")
    await staff.press("#reply-text", "Control+Enter")

    await citizen.locator("#log .message").filter(has_text="我是民政局小王").wait_for()
    # The page fetched it: the desk shows the answer delivered, again without reloading.
    await staff.locator("#transcript .line.staff .badge.delivery-delivered").wait_for()

    await staff.click("#close-handoff")
    await staff.wait_for_url(re.compile(r".*/desk/queue$"))
    await citizen.locator("#log .message").filter(has_text="工作人员已结束本次人工服务").wait_for()


async def test_a_case_moves_to_closed_and_the_citizens_lookup_shows_it(live: Live, browser: Any) -> None:
    citizen = await new_page(browser)
    await open_chat(citizen, live.base)
    await citizen_says(citizen, "我要投诉", "说完后请回复")
    await citizen_says(citizen, "村里的低保名单不公开。", "还有要补充的")
    await citizen_says(citizen, "完成", "哪个部门")
    await citizen_says(citizen, "民政局", "请核对")
    await citizen_says(citizen, "确认提交", "查询密码")
    receipt = await citizen.locator("#log .message.bot").filter(has_text="查询密码").last.inner_text()
    number = re.search(r"案件编号：([\d-]+)", receipt)
    password = re.search(r"查询密码：(\d{8})", receipt)
    assert number and password, receipt

    staff = await new_page(browser)
    await staff_login(staff, live.base, demo.DEMO_STAFF_USERNAME, live.staff_password)
    await staff.goto(live.base + "/desk/cases?q=" + number.group(1).replace("-", ""))
    await staff.click(f"text={number.group(1)}")
    await staff.click("#accept")
    await staff.locator(".flash").filter(has_text="已受理").wait_for()
    await staff.select_option("#assign-department", "县民政局")
    await staff.click("#assign")
    await staff.locator("h1 .badge").filter(has_text="已交办").wait_for()
    await staff.fill("#case-reply", "经核查，名单已在村务公开栏张贴。")
    await staff.click("#reply")
    await staff.locator("h1 .badge").filter(has_text="已答复").wait_for()
    await staff.click("#close")
    await staff.locator("h1 .badge").filter(has_text="已办结").wait_for()

    # Each status change reached the citizen's chat as a notice.
    for words in ("已受理", "已交由县民政局办理", "名单已在村务公开栏张贴", "已办结"):
        await citizen.locator("#log .message").filter(has_text=words).first.wait_for()

    await citizen_says(citizen, "查询", "案件编号")
    await citizen_says(citizen, number.group(1), "查询密码")
    await citizen_says(citizen, password.group(1), "办理状态")
    answer = await citizen.locator("#log .message.bot").filter(has_text="办理状态").last.inner_text()
    assert "已办结" in answer
    assert "名单已在村务公开栏张贴" in await citizen.locator("#log").inner_text()


async def test_markup_from_a_citizen_is_shown_as_text(live: Live, browser: Any) -> None:
    staff = await new_page(browser)
    await staff_login(staff, live.base, demo.DEMO_STAFF_USERNAME, live.staff_password)
    citizen = await new_page(browser)
    await open_chat(citizen, live.base)
    await citizen_says(citizen, "人工", "人工服务")
    await citizen_says(citizen, XSS)

    row = staff.locator("#queue-rows tr").filter(has_text="window.__xss")
    await row.wait_for()  # rendered by the page's script from the event stream
    assert XSS in await row.inner_text()
    await staff.reload()  # rendered by the server's template
    assert XSS in await staff.locator("#queue-rows").inner_text()
    await staff.locator("#queue-rows tr").filter(has_text="window.__xss").click()
    await staff.locator("#transcript .line.citizen").filter(has_text="window.__xss").wait_for()
    assert XSS in await staff.locator("#transcript").inner_text()

    await staff.click("details.to-case summary")
    await staff.click("text=立案并把编号和查询密码发给市民")
    await staff.locator(".description").wait_for()
    assert XSS in await staff.locator(".description").inner_text()

    for page in (staff, citizen):
        assert await page.evaluate("window.__xss === undefined")
        assert await page.locator("main img, #log img").count() == 0
