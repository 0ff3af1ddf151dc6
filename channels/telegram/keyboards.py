"""From a neutral `Outbound` to the Bot API calls that show it: text parts and an inline keyboard.

Texts are sent without parse_mode, so whatever a citizen or an officer wrote (`<b>`, `*`, `_`) is shown
as typed. Telegram measures its 4096 limit in UTF-16 code units (an emoji counts twice), so that is how
parts are measured; long texts are cut at line breaks, and the buttons go under the last part, where
the question is.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.default import Default
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.messages import Capabilities, Choice, Outbound, render_text

MAX_TEXT = 4096  # UTF-16 code units per message
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTONS = 100  # per keyboard
BUTTONS_ONLY_TEXT = "👇"  # Telegram shows no keyboard without a text above it
_NUMBERED = Capabilities(max_length=MAX_TEXT, buttons=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def send_messages(chat_id: int, message: Outbound) -> list[SendMessage]:
    """The sendMessage calls that show `message`, in order; none for a message with nothing to show."""
    markup = keyboard(message.choices)
    text = message.text
    if message.choices and markup is None:
        # Choices no keyboard can carry become numbered lines; the conversation maps a typed number.
        text = render_text(message, _NUMBERED)
    parts = [part for part in split_text(text) if part.strip()]
    if markup is not None and not parts:
        parts = [BUTTONS_ONLY_TEXT]
    calls = [SendMessage(chat_id=chat_id, text=part) for part in parts]
    if markup is not None:
        calls[-1] = SendMessage(chat_id=chat_id, text=parts[-1], reply_markup=markup)
    return calls


def keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
    """One button per row, its callback data the choice key; None when Telegram could not carry them."""
    if not choices or len(choices) > MAX_BUTTONS:
        return None
    if any(not 0 < len(choice.key.encode("utf-8")) <= MAX_CALLBACK_DATA for choice in choices):
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=choice.label.strip() or choice.key, callback_data=choice.key)]
            for choice in choices
        ]
    )


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut at line breaks; a longer line is cut where it must."""
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        for piece in _cut(line, limit):
            added = utf16_len(piece) + (1 if current else 0)
            if current and size + added > limit:
                parts.append("\n".join(current))
                current, size = [], 0
                added = utf16_len(piece)
            current.append(piece)
            size += added
    parts.append("\n".join(current))
    return parts


def _cut(line: str, limit: int) -> list[str]:
    if utf16_len(line) <= limit:
        return [line]
    pieces: list[str] = []
    start = 0
    size = 0
    for index, char in enumerate(line):
        width = 2 if ord(char) > 0xFFFF else 1
        if size + width > limit:
            pieces.append(line[start:index])
            start, size = index, 0
        size += width
    pieces.append(line[start:])
    return pieces


def as_webhook_reply(method: TelegramMethod[Any]) -> dict[str, Any]:
    """The method as a webhook response body: its fields as JSON plus the method's name.

    Fields left to the bot's defaults (parse_mode...) are left out, which is what the defaults say.
    """
    fields = method.model_dump(warnings=False, exclude_none=True)
    body = {key: value for key, value in fields.items() if not isinstance(value, Default)}
    return {"method": method.__api_method__, **body}
