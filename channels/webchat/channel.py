"""The web chat channel: its capabilities, its routes, and an outbox "send" that leaves messages for the page.

The page polls for messages sent outside its own requests (staff replies, notices), so sending one
means accepting it for pickup; the mailbox marks it delivered when the page has fetched it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from channels.base import ChannelContext, Delivery
from channels.webchat.api import WebChatHandlers
from core.messages import Capabilities, Outbound

PERSONA_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True)
class Persona:
    """Someone the page may speak as instead of its own random session: a demo device.

    Whoever opens the page with `?persona=<key>` speaks as `address` on `channel`, so personas exist
    only when the deployment configures them (the demo's phone, to answer its survey from a browser),
    and the server accepts no persona it was not given.
    """

    channel: str
    address: str
    capabilities: Capabilities


class WebChatChannel:
    name = "webchat"
    capabilities = Capabilities(max_length=20_000, buttons=True)

    def __init__(
        self,
        *,
        personas: Mapping[str, Persona] | None = None,
        max_text: int = 10_000,
        poll_seconds: float = 2.0,
    ) -> None:
        personas = dict(personas or {})
        for key, persona in personas.items():
            if (
                not 0 < len(key) <= 20
                or not set(key) <= PERSONA_KEY_CHARS
                or not isinstance(persona, Persona)
            ):
                raise TypeError(f"persona {key!r}: a lower-case key and a Persona are needed")
        if max_text < 1 or poll_seconds <= 0:
            raise ValueError("max_text and poll_seconds must be positive")
        self.personas = personas
        self.max_text = max_text
        self.poll_seconds = poll_seconds

    def routes(self, context: ChannelContext) -> list[web.RouteDef]:
        return WebChatHandlers(self, context).routes()

    async def send(self, bot_id: str, address: str, message: Outbound) -> Delivery:
        return Delivery(ok=True)
