"""What the terminal chat and the demo persona imitate: the capabilities of the platforms we connect.

They let anyone see how a reply will look on SMS or WeChat without an account there. An installed
channel's own capabilities win over these, so the imitation never drifts from the real adapter.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import Channel
from core.messages import Capabilities

SMS = Capabilities(max_length=1600, buttons=False, concise=True)
WECHAT = Capabilities(max_length=2048, buttons=False)
TELEGRAM = Capabilities(max_length=4096, buttons=True)

KNOWN: Mapping[str, Capabilities] = {"sms": SMS, "wechat": WECHAT, "telegram": TELEGRAM}


def capabilities_of(name: str, installed: Mapping[str, Channel]) -> Capabilities | None:
    """The capabilities to imitate channel `name` with, or None when nothing is known of it."""
    channel = installed.get(name)
    if channel is not None:
        return channel.capabilities
    return KNOWN.get(name)
