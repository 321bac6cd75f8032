"""API tokens: created once and shown once, kept only as hashes in a file only its owner can read.

``fixtrail token create NAME [--write]`` prints a new token; ``token list`` lists names without
secrets; ``token revoke NAME`` removes one. The file is ``$FIXTRAIL_TOKENS_FILE``, else
``tokens.json`` in the user's configuration directory. A token is 32 random bytes, so one SHA-256 of
it is enough to keep (nothing to guess from the hash); requests present it as
``Authorization: Bearer ftk_...``. A read token reads every route; a write token may also change
what the team decides (marks, triage).

Standard library and loaders.core only: the CLI's ``token`` command loads nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
from filelock import FileLock

from loaders.core.files import StateFileError, json_bytes, read_state_json, write_atomically

TOKENS_FILE_ENV = "FIXTRAIL_TOKENS_FILE"
TOKEN_PREFIX = "ftk_"  # noqa: S105 (the prefix of every token, not a secret)
MAX_NAME_CHARS = 64
OWNER_ONLY = 0o600


class TokenError(ValueError):
    """A token command or the tokens file cannot be used (the message says why)."""


@dataclass(frozen=True)
class Token:
    """One token as stored: its name, the SHA-256 of its secret, whether it may write, when it was made."""

    name: str
    digest: str
    write: bool
    created_at: str

    def describe(self) -> dict[str, Any]:
        """The token without its digest: name, access ("read" or "write"), created_at."""
        return {"name": self.name, "access": "write" if self.write else "read", "created_at": self.created_at}


def tokens_file() -> Path:
    """Where tokens are kept: ``$FIXTRAIL_TOKENS_FILE``, else ``tokens.json`` in the user's config directory."""
    configured = os.environ.get(TOKENS_FILE_ENV, "").strip()
    return Path(configured) if configured else platformdirs.user_config_path("fixtrail") / "tokens.json"


def digest_of(secret: str) -> str:
    """The hex SHA-256 of a token's secret: what the file keeps instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def read_tokens(path: Path | None = None) -> dict[str, Token]:
    """The tokens in ``path`` (default tokens_file()) by name; empty when there is no file.

    Raises TokenError when the file is readable by anyone but its owner, or not a tokens file.
    """
    path = path or tokens_file()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TokenError(f"cannot read the tokens file {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode) and mode & 0o077:
        raise TokenError(f"the tokens file {path} can be read by others: chmod 600 {path}")
    try:
        data = read_state_json(path)
    except StateFileError as exc:
        raise TokenError(f"cannot use the tokens file: {exc}") from None
    if data is None:
        return {}
    try:
        return {
            item["name"]: Token(item["name"], item["digest"], item["write"] is True, item["created_at"])
            for item in data["tokens"]
        }
    except (KeyError, TypeError) as exc:
        raise TokenError(f"{path} is not a Fixtrail tokens file ({exc!r})") from None


def _write(path: Path, tokens: dict[str, Token]) -> None:
    items = [
        {"name": t.name, "digest": t.digest, "write": t.write, "created_at": t.created_at} for t in tokens.values()
    ]
    write_atomically(path, json_bytes({"tokens": items}), mode=OWNER_ONLY)
    os.chmod(path, OWNER_ONLY)  # a umask cannot widen it, but a file restored by hand might be wider


def _lock(path: Path) -> FileLock:
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path.with_name(f".{path.name}.lock")), timeout=10)


def _plain_name(name: str) -> bool:
    """1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit."""
    allowed = all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    return allowed and 0 < len(name) <= MAX_NAME_CHARS and name[0].isalnum()


def create_token(name: str, write: bool = False, path: Path | None = None) -> str:
    """Make a token called ``name`` (read-only unless ``write``), store its hash and return its secret:
    the only time it is seen. Raises TokenError when the name is taken or not a plain name."""
    if not _plain_name(name):
        raise TokenError("a token's name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    path = path or tokens_file()
    with _lock(path):
        tokens = read_tokens(path)
        if name in tokens:
            raise TokenError(f"a token called {name!r} exists: revoke it first (token revoke {name})")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        tokens[name] = Token(name, digest_of(secret), write, created)
        _write(path, tokens)
    return secret


def revoke_token(name: str, path: Path | None = None) -> None:
    """Remove the token called ``name``; requests presenting it are refused from then on."""
    path = path or tokens_file()
    with _lock(path):
        tokens = read_tokens(path)
        if name not in tokens:
            raise TokenError(f"no token called {name!r}")
        del tokens[name]
        _write(path, tokens)


def matching_token(secret: str, tokens: dict[str, Token]) -> Token | None:
    """The stored token whose secret is ``secret``, compared in constant time; None when none is."""
    presented = digest_of(secret)
    found = None
    for token in tokens.values():
        if hmac.compare_digest(presented, token.digest):
            found = token
    return found
