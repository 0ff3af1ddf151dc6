"""Telegram webhook updates, fuzzed: JSON shaped like Bot API updates with odd and wrongly typed values,
lone surrogates and NULs (JSON escapes carry both), huge numbers, broken and deeply nested JSON, with the
webhook's secret token (and a share without it or with a wrong one)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.drills.fuzz.service import BOT, TELEGRAM_SECRET, FuzzService
from tests.drills.fuzz.values import huge_text, message_text, odd_text

PATH = f"/webhooks/telegram/{BOT}"
CHATS = (700100200, 700100201, 700100202)
REPLAYED_UPDATES = (1, 2, 3)
NOW = 1_772_413_200  # 2026-03-02 01:00 UTC, the service's fixed clock


@dataclass(frozen=True)
class TelegramCase:
    body: bytes
    secret: str | None
    well_formed: bool = False  # a private text message Telegram could send: must be answered with a 200


json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), odd_text, st.just("")
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)


def _sometimes(draw: st.DrawFn, good: st.SearchStrategy[Any], odds: int = 12) -> Any:
    """Mostly a value of the right type, now and then any JSON value at all."""
    return draw(json_value) if draw(st.integers(0, odds)) == 0 else draw(good)


@st.composite
def _message(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    chat_id = _sometimes(draw, st.one_of(st.sampled_from(CHATS), st.integers(-(2**62), 2**62)))
    kind = _sometimes(draw, st.sampled_from(["private"] * 6 + ["group", "supergroup", "channel"]))
    message: dict[str, Any] = {
        "message_id": _sometimes(draw, st.integers(1, 2**31)),
        "date": _sometimes(draw, st.one_of(st.just(NOW), st.integers(-(2**40), 2**40))),
        "chat": {"id": chat_id, "type": kind, "first_name": draw(odd_text)},
        "from": {"id": chat_id, "is_bot": False, "first_name": draw(odd_text)},
    }
    content = draw(
        st.sampled_from(
            ["text"] * 6 + ["caption", "photo", "location", "venue", "voice", "document", "sticker"]
        )
    )
    if content == "text":
        message["text"] = _sometimes(
            draw, st.one_of(message_text(), st.just("/start"), st.just("/start@bot x"))
        )
    elif content == "caption":
        message["caption"] = draw(message_text())
        message["photo"] = [{"file_id": draw(odd_text), "file_unique_id": "u", "width": 90, "height": 67}]
    elif content == "photo":
        size = st.fixed_dictionaries(
            {
                "file_id": odd_text,
                "file_unique_id": odd_text,
                "width": st.integers(-(2**40), 2**40),
                "height": st.integers(0, 2**40),
            }
        )
        message["photo"] = _sometimes(draw, st.lists(size, max_size=4))
    elif content in ("location", "venue"):
        coordinate = st.one_of(st.floats(allow_nan=False), st.floats(-90, 90))
        place = {"latitude": _sometimes(draw, coordinate), "longitude": _sometimes(draw, coordinate)}
        if content == "location":
            message["location"] = place
        else:
            message["venue"] = {
                "location": place,
                "title": draw(odd_text),
                "address": draw(huge_text | odd_text),
            }
    elif content == "voice":
        message["voice"] = {
            "file_id": draw(odd_text),
            "file_unique_id": "v",
            "duration": _sometimes(draw, st.integers(0, 99)),
        }
    elif content == "document":
        message["document"] = {"file_id": draw(odd_text), "file_unique_id": "d", "file_name": draw(odd_text)}
    else:
        message["sticker"] = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1,
                              "height": 1,
                              "is_animated": False, "is_video": False}  # fmt: skip
    well_formed = (
        content == "text"
        and chat_id in CHATS
        and kind == "private"
        and isinstance(message["text"], str)
        and bool(message["text"].strip())
        and isinstance(message["message_id"], int)
        and message["date"] == NOW
    )
    return message, well_formed


@st.composite
def _callback(draw: st.DrawFn) -> dict[str, Any]:
    chat_id = draw(st.sampled_from(CHATS))
    query: dict[str, Any] = {
        "id": _sometimes(draw, st.one_of(st.integers(1, 2**63).map(str), odd_text, huge_text)),
        "from": {"id": chat_id, "is_bot": False, "first_name": "村民"},
        "chat_instance": "ci",
        "data": _sometimes(
            draw,
            st.one_of(
                st.sampled_from(["submit", "lookup", "subsidy", "rate", "human", "grade:1", "1"]), odd_text
            ),
        ),
    }
    if draw(st.booleans()):
        message, _ = draw(_message())
        message["reply_markup"] = {
            "inline_keyboard": [
                [
                    {
                        "text": draw(odd_text),
                        "callback_data": query["data"] if isinstance(query["data"], str) else "x",
                    }
                ]
            ]
        }
        query["message"] = message
    return query


@st.composite
def _update(draw: st.DrawFn) -> tuple[Any, bool]:
    update_id = _sometimes(
        draw,
        st.one_of(st.integers(1, 2**31), st.sampled_from(REPLAYED_UPDATES), st.integers(-(2**70), 2**70)),
    )
    what = draw(
        st.sampled_from(
            ["message"] * 6 + ["callback_query"] * 2 + ["edited_message", "my_chat_member", "nothing", "any"]
        )
    )
    if what == "any":
        return draw(json_value), False
    update: dict[str, Any] = {"update_id": update_id}
    well_formed = False
    if what in ("message", "edited_message"):
        update[what], well_formed = draw(_message())
        well_formed = (
            well_formed and what == "message" and isinstance(update_id, int) and 0 <= update_id < 2**31
        )
    elif what == "callback_query":
        update[what] = draw(_callback())
    elif what == "my_chat_member":
        update[what] = draw(json_value)
    for name in draw(st.lists(odd_text, max_size=2)):
        update[name] = draw(json_value)  # fields this aiogram does not know (yet)
    return update, well_formed


@st.composite
def cases(draw: st.DrawFn) -> TelegramCase:
    update, well_formed = draw(_update())
    secret = draw(st.sampled_from([TELEGRAM_SECRET] * 8 + [None, "wrong-secret-token-0123456789", "é" * 10]))
    body = json.dumps(update).encode()  # ensure_ascii: lone surrogates and NULs travel as \\u escapes
    shape = draw(st.integers(0, 24))
    if shape == 0:
        cut = body[: draw(st.integers(0, len(body)))]
        well_formed = well_formed and cut == body
        body = cut
    elif shape == 1:
        body = draw(
            st.sampled_from(
                [
                    b"NaN",
                    b'{"update_id": Infinity}',
                    b"[" * 100_000,
                    b'{"a":' * 20_000 + b"1",
                    b"\xff\xfe{}",
                    b"",
                ]
            )
        )
        well_formed = False  # none of these is JSON Telegram would send
    elif shape == 2:
        body = json.dumps(update, ensure_ascii=False).encode("utf-8", "surrogatepass")  # raw surrogate bytes
        well_formed = well_formed and body == json.dumps(update, ensure_ascii=False).encode(
            "utf-8", "replace"
        )
    elif shape == 3:
        body = body + b" " * 70_000  # over the webhook's size limit
        well_formed = False
    return TelegramCase(body, secret, well_formed and secret == TELEGRAM_SECRET)


async def exercise(service: FuzzService, case: TelegramCase) -> tuple[str, list[str]]:
    headers = {"Content-Type": "application/json"}
    if case.secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = case.secret
    started = time.monotonic()
    reply = await service.request("POST", PATH, data=case.body, headers=headers)
    problems = service.verdict(reply)
    if time.monotonic() - started > 3:
        problems.append(f"slow answer: {time.monotonic() - started:.1f} s")
    if case.secret != TELEGRAM_SECRET and reply.status != 403:
        problems.append(f"an update without the secret token answered {reply.status}")
    if case.well_formed:
        if reply.status != 200:
            problems.append(f"a private text message was refused: {reply.status} {reply.text[:200]}")
        else:
            try:
                answer = json.loads(reply.body)
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or answer.get("method") not in (None, "sendMessage"):
                problems.append(f"the webhook answer is not a Bot API call: {reply.text[:200]}")
    return str(reply.status), problems
