"""Channel-neutral messages: the only shapes that cross between channels, conversations and the backend.

Plain dataclasses with JSON round-trips, because outbound messages wait in the outbox table and inbound
ones are logged; no platform type may leak in here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AttachmentKind = Literal["image", "voice", "location", "file"]


@dataclass(frozen=True)
class Attachment:
    """Something besides text: a photo, a voice note (with the platform's transcript), a location."""

    kind: AttachmentKind
    url: str | None = None
    transcript: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(**data)


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen, as the channel adapter understood it."""

    channel: str
    bot_id: str
    sender: str
    message_id: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime | None = None
    language: str | None = None  # a language the channel knows the citizen chose (web chat switch)
    choice: str | None = None  # key of a button the citizen pressed, when the channel has buttons

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "bot_id": self.bot_id,
            "sender": self.sender,
            "message_id": self.message_id,
            "text": self.text,
            "attachments": [a.to_json() for a in self.attachments],
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "language": self.language,
            "choice": self.choice,
        }


@dataclass(frozen=True)
class Choice:
    """An answer the citizen can pick: a button where the channel has them, a numbered line elsewhere."""

    key: str
    label: str


@dataclass(frozen=True)
class Outbound:
    """One message to a citizen. `choices` degrade to numbered lines on channels without buttons."""

    text: str
    choices: tuple[Choice, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "choices": [{"key": c.key, "label": c.label} for c in self.choices]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outbound:
        return cls(
            text=data["text"],
            choices=tuple(Choice(c["key"], c["label"]) for c in data.get("choices", ())),
        )


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show; conversations shape replies by this, never by the channel's name."""

    max_length: int = 4096
    buttons: bool = False
    concise: bool = False  # SMS: every character costs, so prefer the short form of a text
    attachments: frozenset[AttachmentKind] = field(default_factory=frozenset)


def render_text(message: Outbound, capabilities: Capabilities) -> str:
    """The message as plain text: choices become numbered lines when the channel has no buttons."""
    if not message.choices or capabilities.buttons:
        return message.text
    sep = " " if capabilities.concise else "\n"
    options = sep.join(f"{i} {c.label}" for i, c in enumerate(message.choices, start=1))
    return f"{message.text}\n{options}"
