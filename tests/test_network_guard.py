"""The guard that keeps tests off the internet must itself work."""

import socket

import pytest

from tests.network_guard import LeftLocalhost


def test_connection_to_outside_address_fails() -> None:
    with socket.socket() as sock, pytest.raises(LeftLocalhost):
        sock.connect(("93.184.216.34", 443))


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
