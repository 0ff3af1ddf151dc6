"""Tests never reach the outside world: any connection to an address off this machine fails loudly.

Real WeChat, Telegram and Twilio servers are replaced by local fakes that speak their wire format; this
guard catches a test (or a library default) that would have called the real one.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


class LeftLocalhost(AssertionError):
    """A test tried to connect to a host other than this machine."""


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # a Unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: resolution would already have been outside


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise LeftLocalhost(f"test tried to connect to {address!r}; only localhost is allowed")
    return _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise LeftLocalhost(f"test tried to connect to {address!r}; only localhost is allowed")
    return _original_connect_ex(self, address)


def install() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
