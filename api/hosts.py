"""The host names the API and the dashboard answer to: a guard against DNS rebinding.

A web page whose domain an attacker points at 127.0.0.1 could otherwise read the logs from the
user's browser: its requests reach the local server with the attacker's name in ``Host``. The
servers answer only the local names, the address they were bound to, and the names configured in
``$FIXTRAIL_ALLOWED_HOSTS`` (comma-separated) or given on the command line.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ALLOWED_HOSTS_ENV = "FIXTRAIL_ALLOWED_HOSTS"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Addresses that mean "every interface": no client names the server by them.
ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104


def is_loopback(address: str | None) -> bool:
    """True when a server bound to ``address`` is reachable from this machine only: localhost,
    127.0.0.0/8 or ::1. Every-interface addresses ("", 0.0.0.0, ::) and names other than localhost are not."""
    if address is None:
        return False
    name = address.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def names_beyond_loopback(names: Iterable[str]) -> list[str]:
    """The names (Host header names a server answers to) by which it is reached from elsewhere: a server on
    loopback that answers to ``fixtrail.example.com`` (behind a reverse proxy) is exposed as if it listened
    on every interface. ``*`` counts as one."""
    return [name for name in names if name.strip() and not is_loopback(name.strip().strip("[]"))]


def host_name(value: str) -> str | None:
    """The name in a ``Host`` header or a configured name, lower-cased, without port or brackets.

    None when the value is not a plain host with an optional port (a user, a path, a bad port).
    """
    try:
        parts = urlsplit(f"//{value.strip()}")
        _ = parts.port  # a port that is not a number in range raises here
    except ValueError:
        return None
    if parts.hostname is None or parts.username is not None or parts.password is not None or parts.path:
        return None
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return None
    return parts.hostname.rstrip(".")


def allowed_hosts(bound_to: str | None = None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The names a server answers to: the local ones, ``bound_to``, ``$FIXTRAIL_ALLOWED_HOSTS`` and ``extra``.

    ``*`` among them allows every name (for a server behind a proxy that checks the name itself).
    """
    configured = [name for name in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if name.strip()]
    bound = [bound_to] if bound_to and bound_to not in ANY_ADDRESS else []
    result: list[str] = []
    for name in (value.strip() for value in [*LOCAL_HOSTS, *bound, *configured, *extra]):
        bare_ipv6 = name.count(":") > 1 and not name.startswith("[")
        normal = "*" if name == "*" else host_name(f"[{name}]" if bare_ipv6 else name)
        if normal and normal not in result:
            result.append(normal)
    return tuple(result)


class HostCheckMiddleware:
    """Answer 400 ``{"success": false, "error": ...}`` to a request whose ``Host`` is not allowed."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]):
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "*" not in self.hosts:
            header = Headers(scope=scope).get("host")
            if header is None or host_name(header) not in self.hosts:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                error = "invalid Host header: this server does not answer to that name"
                response = JSONResponse({"success": False, "error": error}, status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
