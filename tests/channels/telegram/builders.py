"""Updates as Telegram sends them, built with aiogram's own types and serialised to the wire format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatMemberBanned,
    ChatMemberMember,
    ChatMemberUpdated,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Location,
    Message,
    PhotoSize,
    Sticker,
    Update,
    User,
    Venue,
    Voice,
)

from tests.channels.telegram.conftest import CHAT

SENT_AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
GROUP = -100123456


def wire(update: Update) -> dict[str, Any]:
    return update.model_dump(mode="json", exclude_none=True, by_alias=True)


def user(chat: int = CHAT) -> User:
    return User(id=chat, is_bot=False, first_name="村民", language_code="zh-hans")


def chat_of(chat: int = CHAT, kind: str = "private") -> Chat:
    return Chat(id=chat, type=kind, first_name="村民" if kind == "private" else None)


def message(
    update_id: int, *, chat: int = CHAT, kind: str = "private", message_id: int | None = None, **fields: Any
) -> dict[str, Any]:
    body = Message(
        message_id=message_id if message_id is not None else update_id + 5000,
        date=SENT_AT,
        chat=chat_of(chat, kind),
        from_user=user(abs(chat)),
        **fields,
    )
    return wire(Update(update_id=update_id, message=body))


def text(update_id: int, words: str, *, chat: int = CHAT, kind: str = "private") -> dict[str, Any]:
    return message(update_id, chat=chat, kind=kind, text=words)


PHOTO_SIZES = [
    PhotoSize(file_id="small-file", file_unique_id="u1", width=90, height=67, file_size=1200),
    PhotoSize(file_id="large-file", file_unique_id="u3", width=1280, height=960, file_size=98000),
    PhotoSize(file_id="medium-file", file_unique_id="u2", width=320, height=240, file_size=9000),
]


def photo(update_id: int, caption: str | None = None) -> dict[str, Any]:
    return message(update_id, photo=PHOTO_SIZES, caption=caption)


def location(update_id: int, latitude: float = 34.2658, longitude: float = 108.9541) -> dict[str, Any]:
    return message(update_id, location=Location(latitude=latitude, longitude=longitude))


def venue(update_id: int) -> dict[str, Any]:
    place = Location(latitude=34.2658, longitude=108.9541)
    return message(
        update_id,
        location=place,
        venue=Venue(location=place, title="河西镇卫生院", address="河西镇人民路1号"),
    )


def voice(update_id: int) -> dict[str, Any]:
    return message(update_id, voice=Voice(file_id="voice-file", file_unique_id="v1", duration=3))


def document(update_id: int) -> dict[str, Any]:
    return message(
        update_id, document=Document(file_id="doc-file", file_unique_id="d1", file_name="证据.pdf")
    )


def sticker(update_id: int) -> dict[str, Any]:
    return message(
        update_id,
        sticker=Sticker(
            file_id="s",
            file_unique_id="s1",
            type="regular",
            width=1,
            height=1,
            is_animated=False,
            is_video=False,
        ),
    )


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=key)] for key, label in buttons]
    )


def press(
    update_id: int,
    data: str,
    buttons: tuple[tuple[str, str], ...] = (),
    *,
    chat: int = CHAT,
    kind: str = "private",
    query_id: str | None = None,
) -> dict[str, Any]:
    """A citizen pressing the button with callback data `data` under a message showing `buttons`."""
    shown = Message(
        message_id=update_id + 9000,
        date=SENT_AT,
        chat=chat_of(chat, kind),
        text="请选择：",
        reply_markup=keyboard(*buttons) if buttons else None,
    )
    query = CallbackQuery(
        id=query_id or f"cq-{update_id}",
        from_user=user(abs(chat)),
        chat_instance="ci-1",
        message=shown,
        data=data,
    )
    return wire(Update(update_id=update_id, callback_query=query))


def edited(update_id: int, words: str) -> dict[str, Any]:
    body = Message(
        message_id=update_id + 5000,
        date=SENT_AT,
        chat=chat_of(),
        from_user=user(),
        text=words,
        edit_date=int(SENT_AT.timestamp()) + 60,
    )
    return wire(Update(update_id=update_id, edited_message=body))


def blocked(update_id: int) -> dict[str, Any]:
    """The citizen blocked the bot: Telegram tells with a my_chat_member update."""
    bot = User(id=123456789, is_bot=True, first_name="Bot")
    change = ChatMemberUpdated(
        chat=chat_of(),
        from_user=user(),
        date=SENT_AT,
        old_chat_member=ChatMemberMember(user=bot),
        new_chat_member=ChatMemberBanned(user=bot, until_date=0),
    )
    return wire(Update(update_id=update_id, my_chat_member=change))
