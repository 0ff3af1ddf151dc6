"""WeChat's message XML ↔ neutral messages: what a callback says, and the passive text reply.

Parsing goes through wechatpy, after `safexml` has vetted the document; every field we use is then
checked for type and shape, because xmltodict turns an unexpected child element into a dict or a
repeated one into a list, and a value like that must be a 400, not a crash further on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wechatpy import parse_message
from wechatpy.replies import TextReply

from channels.wechat import safexml
from channels.wechat.menu import click_text
from core.messages import Attachment, Capabilities, Inbound, Outbound, render_text

CHANNEL = "wechat"
# WeChat's limit for one text message's content, passive or through the customer-service API.
TEXT_LIMIT_BYTES = 2048
ELISION = "\n……\n"

_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # openids (28 chars) and account ids (gh_...)
_MSG_ID = re.compile(r"^[0-9]{1,32}$")
_LATEST_TIME = 2**33  # far beyond any real CreateTime; keeps datetime conversion in range
# Characters XML 1.0 cannot carry: a reply containing one would be refused by WeChat's parser.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Events that are not a citizen speaking: answered with "success" and otherwise ignored.
_GREETINGS = frozenset({"subscribe", "subscribe_scan"})


class BadMessage(ValueError):
    """A callback body that is not a WeChat message we can read."""


@dataclass(frozen=True)
class Received:
    """One callback, understood: the Inbound for the engine (None: nothing to answer), and the two
    parties, for addressing the passive reply."""

    inbound: Inbound | None
    account: str  # ToUserName: the official account's own id, the reply's sender
    sender: str  # FromUserName: the citizen's openid


def read(xml: str, bot_id: str) -> Received:
    """The message in a (decrypted) callback body; raises BadMessage."""
    try:
        safexml.check(xml)
    except (safexml.UnsafeXml, safexml.MalformedXml) as exc:
        raise BadMessage(str(exc)) from None
    try:
        message = parse_message(xml)
        kind = str(message.type)
        sender = _identifier(message.source, "FromUserName")
        account = _identifier(message.target, "ToUserName")
        created = message.time
    except BadMessage:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        # a missing MsgType, <xml/> with nothing in it, an Event that is an element, a CreateTime
        # that is not a number: wechatpy raises whatever its dict access raised
        raise BadMessage("not a WeChat message") from None
    received_at = _moment(created)

    def inbound(message_id: str, text: str = "", *attachments: Attachment) -> Inbound:
        return Inbound(
            channel=CHANNEL,
            bot_id=bot_id,
            sender=sender,
            message_id=message_id,
            text=text,
            attachments=attachments,
            received_at=received_at,
        )

    if kind == "event":
        event = str(message.event)
        event_id = f"{sender}:{created}:{event}"
        if event in _GREETINGS:
            # An empty first message: the engine greets and shows the main menu.
            return Received(inbound(event_id), account, sender)
        if event == "click":
            key = _text(message.key, "EventKey").strip()
            if not key:
                raise BadMessage("a click without a key")
            return Received(inbound(event_id, click_text(key)), account, sender)
        return Received(None, account, sender)  # unsubscribe, location reports, link menu clicks...

    message_id = _message_id(message, sender, created, kind)
    if kind == "text":
        return Received(inbound(message_id, _text(message.content, "Content")), account, sender)
    if kind == "image":
        url = _text(message.image, "PicUrl").strip() or None
        return Received(inbound(message_id, "", Attachment("image", url=url)), account, sender)
    if kind == "voice":
        transcript = _text(message.recognition, "Recognition").strip()
        if transcript:
            voice = Attachment("voice", transcript=transcript)
            return Received(inbound(message_id, transcript, voice), account, sender)
        # Nothing we could read: the engine answers an empty message with a voice note in it.
        return Received(inbound(message_id, "", Attachment("voice")), account, sender)
    if kind == "location":
        place = Attachment(
            "location",
            latitude=_coordinate(message.location_x, "Location_X", 90),
            longitude=_coordinate(message.location_y, "Location_Y", 180),
            label=_text(message.label, "Label").strip() or None,
        )
        return Received(inbound(message_id, "", place), account, sender)
    # Video, links, mini-program cards...: nothing the engine can use, but the citizen did write, so the
    # conversation answers (asks again) instead of falling silent.
    return Received(inbound(message_id), account, sender)


def passive_text(replies: Sequence[Outbound], capabilities: Capabilities) -> str:
    """The replies as the one text a passive reply can carry: joined, numbered choices, within the limit.

    Too long for one message, the middle goes: the start says what this is about and the end holds
    the question and its numbered choices, which the citizen needs to answer.
    """
    parts = (render_text(reply, capabilities).strip() for reply in replies)
    text = xml_safe("\n\n".join(part for part in parts if part))
    return clip(text, TEXT_LIMIT_BYTES)


def reply_xml(content: str, *, account: str, sender: str, now: int) -> str:
    """A passive text reply, rendered by wechatpy."""
    # wechatpy writes the content into a CDATA section, which a "]]>" inside would end early.
    safe = content.replace("]]>", "]]]]><![CDATA[>")
    return str(TextReply(source=account, target=sender, content=safe, time=now).render())


def api_pieces(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """A message split into texts of at most `limit` bytes, at line ends where possible, for the API."""
    text = text.strip()
    pieces: list[str] = []
    while _size(text) > limit:
        head = _prefix(text, limit)
        if head.strip():
            pieces.append(head.rstrip())
        text = text[len(head) :].lstrip("\n")
    if text or not pieces:
        pieces.append(text)
    return pieces


def clip(text: str, limit: int) -> str:
    if _size(text) <= limit:
        return text
    room = limit - _size(ELISION)
    tail = _suffix(text, room // 2)
    head = _prefix(text[: len(text) - len(tail)], room - _size(tail))
    return head.rstrip() + ELISION + tail.lstrip()


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


# ---------------------------------------------------------------- fields


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadMessage(f"{name} is not text")
    return value


def _identifier(value: Any, name: str) -> str:
    text = _text(value, name).strip()
    if not _OPENID.match(text):
        raise BadMessage(f"{name} missing or malformed")
    return text


def _message_id(message: Any, sender: str, created: int, kind: str) -> str:
    raw = message._data.get("MsgId")  # the raw string: an int() would accept "+1" or " 1"
    if raw is None:
        return f"{sender}:{created}:{kind}"
    if not isinstance(raw, str) or not _MSG_ID.match(raw.strip()):
        raise BadMessage("MsgId malformed")
    return raw.strip()


def _moment(created: Any) -> datetime:
    if not isinstance(created, int) or not 0 < created < _LATEST_TIME:
        raise BadMessage("CreateTime missing or out of range")
    return datetime.fromtimestamp(created, UTC)


def _coordinate(value: Any, name: str, bound: float) -> float:
    text = _text(value, name).strip()
    try:
        number = float(text)
    except ValueError:
        raise BadMessage(f"{name} is not a number") from None
    if not -bound <= number <= bound:  # also refuses nan and inf
        raise BadMessage(f"{name} out of range")
    return number


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _prefix(text: str, budget: int) -> str:
    """The longest start of `text` within `budget` bytes, ending at a line end if it holds one."""
    end = _fit(text, budget)
    cut = text[:end]
    if end < len(text) and "\n" in cut:
        cut = cut[: cut.rindex("\n") + 1]
    return cut


def _suffix(text: str, budget: int) -> str:
    """The longest end of `text` within `budget` bytes, starting at a line start if it holds one."""
    reverse = text[::-1]
    end = _fit(reverse, budget)
    cut = reverse[:end][::-1]
    if end < len(text) and "\n" in cut:
        cut = cut[cut.index("\n") + 1 :]
    return cut


def _fit(text: str, budget: int) -> int:
    """How many characters of `text` fit in `budget` bytes of UTF-8."""
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode("utf-8"))
        if used > budget:
            return index
    return len(text)
