"""Finds channel adapters through the `sunshine.channels` entry point group.

A platform is added by installing a package that declares an entry point in that group, pointing at
a factory (usually the channel class) called with the channel's options; nothing here names a
platform, so third-party channels are first-class.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from channels.base import Channel

GROUP = "sunshine.channels"


class ChannelLoadError(LookupError):
    """A configured channel that is not installed, or whose factory failed; the message says which."""


def available() -> dict[str, EntryPoint]:
    """Installed channels by name."""
    return {point.name: point for point in entry_points(group=GROUP)}


def load(name: str, options: Mapping[str, Any] | None = None) -> Channel:
    """Build the channel called `name`, passing `options` as keyword arguments to its factory."""
    points = available()
    point = points.get(name)
    if point is None:
        known = ", ".join(sorted(points)) or "none"
        raise ChannelLoadError(f"channel {name!r} is not installed (installed channels: {known})")
    try:
        factory = point.load()
    except Exception as exc:  # an entry point's import can fail in any way; say which one broke
        raise ChannelLoadError(f"channel {name!r} ({point.value}) cannot be imported: {exc}") from exc
    try:
        channel = factory(**dict(options or {}))
    except TypeError as exc:
        raise ChannelLoadError(f"channel {name!r}: bad options: {exc}") from exc
    if getattr(channel, "name", None) != name:
        raise ChannelLoadError(
            f"channel {name!r} ({point.value}) calls itself {getattr(channel, 'name', None)!r}; "
            "the entry point name and the channel's name must agree"
        )
    return channel


def load_all(names: Mapping[str, Mapping[str, Any]]) -> dict[str, Channel]:
    """Build every named channel once, with its options; the first failure is reported."""
    return {name: load(name, options) for name, options in names.items()}
