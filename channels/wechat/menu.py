"""The official account's custom menu: what an operator configures, the JSON WeChat wants, and clicks.

A click reaches us as an event carrying only the button's key, so each key stands for the words a
citizen would type for that service: the conversation engine understands words, not this channel's
keys, and a typed word and a pressed menu button then behave the same everywhere.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# WeChat's own limits (custom menu API): three top-level buttons of at most 16 bytes, five entries
# under each of at most 60 bytes, keys of at most 128 bytes. The API refuses anything bigger.
MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128

# Menu keys → what the citizen would have typed. "投诉举报" names the service without choosing a kind,
# so the engine asks which kind; "人工" and "菜单" are global words that work at any step.
CLICK_WORDS: dict[str, str] = {
    "submit": "投诉举报",
    "lookup": "查询进度",
    "subsidy": "补贴查询",
    "rate": "评价",
    "human": "人工",
    "menu": "菜单",
}


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


class MenuEntry(BaseModel):
    """A button that sends a click event with its key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    key: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or _size(value) > SUB_NAME_BYTES:
            raise ValueError(f"a menu entry name needs 1 to {SUB_NAME_BYTES} bytes of UTF-8")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        value = value.strip()
        if not value or _size(value) > KEY_BYTES:
            raise ValueError(f"a menu key needs 1 to {KEY_BYTES} bytes of UTF-8")
        return value

    def to_json(self) -> dict[str, Any]:
        return {"type": "click", "name": self.name, "key": self.key}


class MenuButton(BaseModel):
    """A top-level button: either a click button itself (`key`) or a folder of entries (`sub_buttons`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    key: str | None = None
    sub_buttons: tuple[MenuEntry, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or _size(value) > TOP_NAME_BYTES:
            raise ValueError(
                f"a top-level button name needs 1 to {TOP_NAME_BYTES} bytes of UTF-8 (about 5 Chinese "
                "characters)"
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> MenuButton:
        if (self.key is None) == (not self.sub_buttons):
            raise ValueError(f"button {self.name!r} needs either a key or sub_buttons, not both")
        if len(self.sub_buttons) > MAX_SUB_BUTTONS:
            raise ValueError(f"button {self.name!r}: at most {MAX_SUB_BUTTONS} sub_buttons")
        if self.key is not None:
            MenuEntry(name=self.name, key=self.key)  # the same limits as an entry's key
        return self

    def to_json(self) -> dict[str, Any]:
        if self.key is not None:
            return {"type": "click", "name": self.name, "key": self.key}
        return {"name": self.name, "sub_button": [entry.to_json() for entry in self.sub_buttons]}


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    buttons: tuple[MenuButton, ...] = Field(min_length=1, max_length=MAX_BUTTONS)

    def to_json(self) -> dict[str, Any]:
        """The body of `menu/create`."""
        return {"button": [button.to_json() for button in self.buttons]}

    def keys(self) -> list[str]:
        found = [b.key for b in self.buttons if b.key is not None]
        found += [entry.key for b in self.buttons for entry in b.sub_buttons]
        return found


DEFAULT_MENU = Menu(
    buttons=(
        MenuButton(
            name="办事",
            sub_buttons=(
                MenuEntry(name="投诉举报", key="submit"),
                MenuEntry(name="查询进度", key="lookup"),
                MenuEntry(name="补贴查询", key="subsidy"),
            ),
        ),
        MenuButton(name="评价", key="rate"),
        MenuButton(name="人工", key="human"),
    )
)


def click_text(key: str) -> str:
    """What a click on `key` says to the engine; a key of the operator's own is passed on as typed text,
    so a button keyed "低保" works like typing 低保."""
    return CLICK_WORDS.get(key, key)
