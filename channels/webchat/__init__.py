"""The web chat: a page any browser can open to talk to a bot, no account needed."""

from channels.webchat.channel import Persona, WebChatChannel

__all__ = ["Persona", "WebChatChannel"]
