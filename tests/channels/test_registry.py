"""Channels are found through the `sunshine.channels` entry points, so third parties can add one."""

from __future__ import annotations

import pytest

from channels import registry
from channels.console import ConsoleChannel
from channels.registry import ChannelLoadError
from channels.webchat import WebChatChannel


def test_the_built_in_channels_are_registered_as_entry_points() -> None:
    available = registry.available()
    assert available["webchat"].value == "channels.webchat:WebChatChannel"
    assert available["console"].value == "channels.console:ConsoleChannel"


def test_a_channel_is_built_with_its_options() -> None:
    channel = registry.load("webchat", {"max_text": 500})
    assert isinstance(channel, WebChatChannel)
    assert channel.max_text == 500
    assert isinstance(registry.load("console"), ConsoleChannel)


def test_an_unknown_channel_names_the_installed_ones() -> None:
    with pytest.raises(ChannelLoadError, match=r"'pigeon' is not installed .*console.*webchat"):
        registry.load("pigeon")


def test_bad_options_say_which_channel() -> None:
    with pytest.raises(ChannelLoadError, match="channel 'console': bad options"):
        registry.load("console", {"colour": "red"})
