"""From a Telegram `Update` to what the conversation needs: one neutral `Inbound`, or nothing.

Only private chats are served: a conversation can show a case number and its query password, which
must never land in a group. Updates that are not a citizen's new message or button press (edits, joins,
a user blocking the bot...) are acknowledged and ignored. Files stay at Telegram: an attachment keeps
the file id, which only the bot token turns into a download, so no stored URL ever carries the token.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, Update

from core.messages import Attachment, Inbound

CHANNEL = "telegram"
FILE_URL_PREFIX = "telegram-file:"  # + file_id; resolve with getFile, which needs the token
_START = re.compile(r"^/start(@\w+)?(\s.*)?$", re.DOTALL)
_MAX_ID = 64  # Telegram's callback query ids are about 19 digits; the inbox column takes 128 characters
_MAX_DATA = 64  # bytes of callback data, Telegram's own limit


class BadUpdate(ValueError):
    """An update no real Telegram would send (impossible coordinates...): refused with a 400."""


@dataclass(frozen=True)
class Incoming:
    """What one update asks of us: a message for the conversation and/or a button press to acknowledge."""

    inbound: Inbound | None
    chat_id: int | None
    callback_query_id: str | None = None


def read_update(bot_id: str, update: Update) -> Incoming | None:
    """The update as a citizen's message; None when it is nothing to answer."""
    if update.message is not None:
        return _from_message(bot_id, update.update_id, update.message)
    if update.callback_query is not None:
        return _from_callback(bot_id, update.update_id, update.callback_query)
    return None


def provider_id(update_id: int, distinguisher: str) -> str:
    """The message id the pipeline dedupes on: the update id, plus what makes it unique for ever.

    Telegram repeats an update's id when it redelivers the update, but after a week without updates it
    numbers them from a random start, which could meet an id stored long ago: a "replay" that would
    answer this citizen with someone else's old reply and drop their message. An id can only come round
    after that week, so the message's date (or the callback query's own unique id) tells the two apart;
    and unlike the chat id, neither names anyone.
    """
    return f"{update_id}:{distinguisher}"


def _from_message(bot_id: str, update_id: int, message: Message) -> Incoming | None:
    if message.chat.type != "private":
        return None
    text = clean(message.text if message.text is not None else message.caption or "")
    started = bool(_START.match(text))
    if started:
        # Telegram's button for a first contact. Passed on as an empty message: the conversation greets
        # a new citizen, and the word "start" must not make it guess that they read English.
        text = ""
    attachments = _attachments(message)
    if not started and not text.strip() and not attachments:
        return None  # a sticker, a poll, a service message: nothing the conversation can use
    inbound = Inbound(
        channel=CHANNEL,
        bot_id=bot_id,
        sender=str(message.chat.id),
        message_id=provider_id(update_id, str(_timestamp(message.date))),
        text=text,
        attachments=attachments,
        received_at=_aware(message.date),
    )
    return Incoming(inbound=inbound, chat_id=message.chat.id)


def _from_callback(bot_id: str, update_id: int, query: CallbackQuery) -> Incoming:
    message = query.message
    chat = message.chat if message is not None else None
    if chat is not None and chat.type != "private":
        return Incoming(inbound=None, chat_id=None, callback_query_id=query.id)
    chat_id = chat.id if chat is not None else query.from_user.id  # a private chat's id is the user's
    if len(query.id) > _MAX_ID or len((query.data or "").encode("utf-8", "surrogatepass")) > _MAX_DATA:
        raise BadUpdate("callback query id or data longer than Telegram makes them")
    if clean(query.id) != query.id:
        # The id goes back to Telegram (answerCallbackQuery): a lone surrogate cannot be sent (found by
        # the fuzzing drill as a 500), and no id Telegram makes holds one or a NUL.
        raise BadUpdate("callback query id with a lone surrogate or a NUL")
    data = clean(query.data or "")
    if not data:
        return Incoming(inbound=None, chat_id=chat_id, callback_query_id=query.id)
    markup = getattr(message, "reply_markup", None)
    inbound = Inbound(
        channel=CHANNEL,
        bot_id=bot_id,
        sender=str(chat_id),
        message_id=provider_id(update_id, f"cb{clean(query.id)}"),
        text=_label(markup, query.data or ""),
        choice=data,
    )
    return Incoming(inbound=inbound, chat_id=chat_id, callback_query_id=query.id)


def _label(markup: InlineKeyboardMarkup | None, data: str) -> str:
    """The pressed button's label, as if the citizen had typed it; empty when the message is gone."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return ""
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return clean(button.text)
    return ""


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        # Telegram lists the sizes it made of one photo; the largest is the one worth keeping.
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        found.append(Attachment(kind="image", url=FILE_URL_PREFIX + clean(largest.file_id)))
    location = message.venue.location if message.venue is not None else message.location
    if location is not None:
        latitude, longitude = location.latitude, location.longitude
        if not (math.isfinite(latitude) and math.isfinite(longitude)) or not (
            -90 <= latitude <= 90 and -180 <= longitude <= 180
        ):
            raise BadUpdate("location out of range")
        label = None
        if message.venue is not None:
            label = clean(", ".join(part for part in (message.venue.title, message.venue.address) if part))
        found.append(Attachment(kind="location", latitude=latitude, longitude=longitude, label=label or None))
    if message.voice is not None:
        found.append(Attachment(kind="voice", url=FILE_URL_PREFIX + clean(message.voice.file_id)))
    if message.document is not None:
        found.append(
            Attachment(
                kind="file",
                url=FILE_URL_PREFIX + clean(message.document.file_id),
                label=clean(message.document.file_name or "") or None,
            )
        )
    return tuple(found)


def clean(text: str) -> str:
    """Text any database can store: lone surrogates (valid JSON, invalid UTF-8) and NULs replaced."""
    if text.isascii():
        return text.replace("\x00", "\ufffd")
    repaired = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return repaired.replace("\x00", "\ufffd")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timestamp(moment: datetime) -> int:
    return int(_aware(moment).timestamp())
