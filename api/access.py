"""Who may call the API: bearer tokens (api.tokens) for every ``/api`` route.

Tokens are required once any token exists, and always when the server listens beyond loopback
(``serve`` refuses to start there without tokens unless told ``--no-auth``). Without a token, a
wrong one or a revoked one a route answers 401 in the original's error shape; a read token on a
route that writes answers 403. Revoking or creating a token takes effect on the next request: the
file is read again when it changes. With ``--no-auth`` every answer carries NO_AUTH_HEADER.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.hosts import is_loopback
from api.tokens import Token, TokenError, matching_token, read_tokens, tokens_file

NO_AUTH_HEADER = ("x-fixtrail-warning", "no authentication: anyone who can reach this server can read every log")
AUTH_HELP = (
    "Every /api route takes `Authorization: Bearer TOKEN` once a token exists (always when the server "
    "listens beyond loopback). Make one with `fixtrail token create NAME` (add `--write` for routes "
    "that change the team's decisions); `fixtrail token list` and `fixtrail token revoke NAME` manage them."
)

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
bearer = HTTPBearer(auto_error=False, description=AUTH_HELP)


@dataclass
class Access:
    """The API's access rule: whether tokens are required even when none exist (a server beyond
    loopback) and whether it runs without authentication on purpose (``--no-auth``)."""

    always_required: bool = False
    no_auth: bool = False
    path: Path = field(default_factory=tokens_file)
    _seen: tuple[tuple[int, ...] | None, dict[str, Token]] = (None, {})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tokens(self) -> dict[str, Token]:
        """The tokens of the file, read again whenever it changed (a revocation counts from the next request)."""
        try:
            info = os.stat(self.path)
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)  # a chmod is read again
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._seen[0]:
                self._seen = (stamp, read_tokens(self.path) if stamp else {})
            return self._seen[1]

    def check(self, credentials: HTTPAuthorizationCredentials | None, write: bool) -> Token | None:
        """The token the request presented (None when none is required); raises HTTPException 401 (no
        valid token), 403 (a read token on a write route) or 503 (the tokens file cannot be used)."""
        if self.no_auth:
            return None
        try:
            tokens = self.tokens()
        except TokenError as exc:
            raise HTTPException(503, f"access cannot be checked: {exc}") from None
        if not tokens and not self.always_required:
            return None
        if credentials is None:
            raise HTTPException(401, "a token is required: send Authorization: Bearer TOKEN", UNAUTHORIZED)
        token = matching_token(credentials.credentials, tokens)
        if token is None:
            raise HTTPException(401, "the token is not valid (unknown or revoked)", UNAUTHORIZED)
        if write and not token.write:
            raise HTTPException(403, f"the token {token.name!r} may read but not write: use a write token")
        return token


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def reader(request: Request, credentials: Credentials) -> None:
    """Dependency of every /api route: a valid token when tokens are required. Async: a check of one
    file's stamp, run on the event loop (a sync dependency would cost a thread hop per request)."""
    request.app.state.access.check(credentials, write=False)


async def writer(request: Request, credentials: Credentials) -> str | None:
    """Dependency of the routes that write: a valid write token when tokens are required; without
    tokens, only a client on this machine (loopback) may write. Returns the token's name (who acts)."""
    token = request.app.state.access.check(credentials, write=True)
    if token is None:
        client = request.client.host if request.client else None
        if not is_loopback(client):
            raise HTTPException(403, "without tokens, only a client on this machine may write: create a write token")
        return None
    return token.name


class NoAuthWarningMiddleware:
    """Add NO_AUTH_HEADER to every answer (the server was started with ``--no-auth``)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_warning(message: Message) -> None:
            if message["type"] == "http.response.start":
                name, value = NO_AUTH_HEADER
                message = {**message, "headers": [*message.get("headers", []), (name.encode(), value.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_warning)
