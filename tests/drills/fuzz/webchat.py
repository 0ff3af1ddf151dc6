"""The web chat's JSON API, fuzzed: message bodies with odd and wrongly typed fields (lone surrogates and
NULs as JSON escapes, lists where strings belong, huge texts), broken JSON, and polls with odd queries.
The page is public, so there is no signature: whatever a browser can send, it may."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.drills.fuzz.service import BOT, FuzzService
from tests.drills.fuzz.telegram import json_value
from tests.drills.fuzz.values import huge_text, message_text, odd_text

MESSAGES = f"/chat/{BOT}/api/messages"
SESSIONS = (
    "5f0c6d1e2a3b4c5d6e7f8091a2b3c4d5",
    "00000000000000000000000000000001",
    "abcdefabcdefabcdefabcdefabcdef12",
)
REPLAYED_IDS = ("m1", "m2", "m3")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_TEXT = 10_000


@dataclass(frozen=True)
class WebChatCase:
    method: str
    body: bytes = b""
    query: tuple[tuple[str, str], ...] = ()
    well_formed: bool = False  # a message the page itself could send: must be answered with a 200


def _sometimes(draw: st.DrawFn, good: st.SearchStrategy[Any], odds: int = 10) -> Any:
    return draw(json_value) if draw(st.integers(0, odds)) == 0 else draw(good)


@st.composite
def _message(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    body: dict[str, Any] = {
        "session": _sometimes(draw, st.one_of(st.sampled_from(SESSIONS), st.just("../../etc"), odd_text)),
        "text": _sometimes(draw, st.one_of(message_text(), huge_text)),
        "client_message_id": _sometimes(
            draw, st.one_of(st.builds(lambda: uuid.uuid4().hex), st.sampled_from(REPLAYED_IDS), odd_text)
        ),
    }
    if draw(st.integers(0, 3)) == 0:
        body["choice"] = _sometimes(
            draw, st.one_of(st.sampled_from(["submit", "lookup", "human", "grade:2", "done"]), odd_text)
        )
    if draw(st.integers(0, 3)) == 0:
        body["language"] = _sometimes(draw, st.sampled_from(["zh_Hans", "zh_Hant", "en", "fr", ""]), odds=3)
    if draw(st.integers(0, 8)) == 0:
        body["persona"] = _sometimes(draw, st.sampled_from(["", "phone", "x"]), odds=3)
    names = list(body)
    missing = draw(st.integers(-6 * len(names), len(names) - 1))
    if missing >= 0:
        del body[names[missing]]
    text, choice = body.get("text", ""), body.get("choice")
    well_formed = (
        body.get("session") in SESSIONS
        and isinstance(text, str)
        and len(text) <= MAX_TEXT
        and (choice is None or (isinstance(choice, str) and bool(_CHOICE.match(choice))))
        and (bool(text.strip()) or choice is not None)
        and body.get("language") in (None, "zh_Hans", "zh_Hant", "en")
        and body.get("persona") in (None, "")
        and isinstance(body.get("client_message_id"), str)
        and bool(_CLIENT_ID.match(body["client_message_id"]))
    )
    return body, well_formed


@st.composite
def _post(draw: st.DrawFn) -> WebChatCase:
    body, well_formed = draw(_message())
    if draw(st.integers(0, 7)) == 0:
        body = draw(json_value)
        well_formed = False
    raw = json.dumps(body).encode()
    shape = draw(st.integers(0, 14))
    if shape == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
        well_formed = well_formed and raw == json.dumps(body).encode()
    elif shape == 1:
        raw = draw(
            st.sampled_from([b"NaN", b"[" * 100_000, b'{"a":' * 20_000 + b"1", b"\xff\xfe{}", b"", b"null"])
        )
        well_formed = False
    elif shape == 2:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        well_formed = well_formed and raw == json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")
    elif shape == 3:
        raw = raw + b" " * 70_000
        well_formed = False
    return WebChatCase("POST", raw, well_formed=well_formed)


@st.composite
def _poll(draw: st.DrawFn) -> WebChatCase:
    query = [
        ("session", draw(st.one_of(st.sampled_from(SESSIONS), odd_text))),
        ("after", draw(st.one_of(st.integers(-5, 2**70).map(str), odd_text, st.just("0")))),
    ]
    if draw(st.booleans()):
        query.append((draw(st.sampled_from(["session", "after", "persona"])), draw(odd_text)))
    return WebChatCase("GET", query=tuple(query))


def cases() -> st.SearchStrategy[WebChatCase]:
    return st.one_of(_post(), _post(), _post(), _poll())


async def exercise(service: FuzzService, case: WebChatCase) -> tuple[str, list[str]]:
    if case.method == "GET":
        query = [(k, v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")) for k, v in case.query]
        reply = await service.request("GET", MESSAGES, params=query)
    else:
        reply = await service.request(
            "POST", MESSAGES, data=case.body, headers={"Content-Type": "application/json"}
        )
    problems = service.verdict(reply)
    if case.well_formed:
        answer: Any = None
        with contextlib.suppress(ValueError):
            answer = json.loads(reply.body)
        if reply.status != 200:
            problems.append(f"a message the page could send was refused: {reply.status} {reply.text[:200]}")
        elif not isinstance(answer, dict) or not isinstance(answer.get("replies"), list):
            problems.append(f"the answer has no replies: {reply.text[:200]}")
    elif reply.status >= 400 and reply.status != 405:
        try:
            error = json.loads(reply.body)
        except ValueError:
            error = None
        if not isinstance(error, dict) or "error" not in error:
            problems.append(f"a refusal ({reply.status}) without a JSON error: {reply.text[:120]}")
    return str(reply.status), problems
