"""Ports on 127.0.0.1 for the servers tests start (the API, the dashboard, moto's S3)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True when nothing listens on the port (a closed connection's TIME_WAIT is no server)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def first_answer(url: str, server: subprocess.Popen, within: float = 60.0) -> httpx.Response:
    """The first answer of ``url`` from a server process starting up; fails if it exits or takes too long."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.3)
