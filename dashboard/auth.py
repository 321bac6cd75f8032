"""Sign-in for the dashboard: Streamlit's own ``st.login`` (OpenID Connect) and an allow-list.

Configured in ``.streamlit/secrets.toml`` as Streamlit documents it (``[auth]`` with ``redirect_uri``,
``cookie_secret``, ``client_id``, ``client_secret``, ``server_metadata_url``; or shared keys in
``[auth]`` and one ``[auth.NAME]`` per provider), and who may enter in a section Streamlit does not read::

    [fixtrail_access]
    allowed_emails = ["ana@example.com"]
    allowed_domains = ["example.com"]

``require_sign_in`` runs first in every script run, before any log is read: until an allowed person
has signed in, the browser receives the sign-in screen and nothing else. An empty allow-list lets
nobody in. Without ``[auth]`` the dashboard works as it always did, but only on loopback:
``exposure_refusal`` (used by ``dashboard.serve``, the CLI and the script itself) refuses any other
address unless the server was started with ``--no-auth`` (``FIXTRAIL_NO_AUTH=1``), and every page
then says that anyone can read it. A ``--no-auth`` never turns a configured sign-in off.

The same rules are read outside Streamlit (the CLI checks before starting the server): ``load_secrets``
reads the files Streamlit reads, with tomllib, and merges them as Streamlit does (a later file's
top-level table replaces an earlier one's).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config

from api.hosts import is_loopback, names_beyond_loopback
from dashboard.markdown import escape_markdown
from loaders.core.files import UnreadableFile, read_any_file

SECRETS_FILE_ENV = "FIXTRAIL_SECRETS_FILE"  # a secrets.toml read instead of Streamlit's usual places
NO_AUTH_ENV = "FIXTRAIL_NO_AUTH"  # "1": started with --no-auth
ACCESS_SECTION = "fixtrail_access"
SECRETS_MAX_BYTES = 1 << 20
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
SHARED_KEYS = ("redirect_uri", "cookie_secret")
NO_AUTH_BANNER = "No sign-in: anyone who can reach this address can read every log, prompt and script."
APP_DIR = Path(__file__).resolve().parent


class SecretsFileError(Exception):
    """A secrets file that exists but cannot be read as TOML; the message names it and says why."""


def secrets_files(explicit: Sequence[str] = ()) -> list[Path]:
    """The secrets.toml files Streamlit reads, in its order (a later one wins): ``explicit`` (its
    ``--secrets.files`` options) if any, else ``$FIXTRAIL_SECRETS_FILE`` if set, else
    ``~/.streamlit/secrets.toml``, ``./.streamlit/secrets.toml`` and the app's ``dashboard/.streamlit/``."""
    if explicit:
        return [Path(path).expanduser() for path in explicit]
    if os.environ.get(SECRETS_FILE_ENV):
        return [Path(os.environ[SECRETS_FILE_ENV]).expanduser()]
    places = [Path.home() / ".streamlit", Path.cwd() / ".streamlit", APP_DIR / ".streamlit"]
    return list(dict.fromkeys(place.resolve() / "secrets.toml" for place in places))


def load_secrets(paths: Sequence[Path] | None = None) -> dict[str, Any]:
    """The secrets of ``paths`` (default: secrets_files()), merged as Streamlit merges them; a missing
    file is skipped. Raises SecretsFileError for a file that is there but is not readable TOML."""
    merged: dict[str, Any] = {}
    for path in secrets_files() if paths is None else paths:
        try:
            merged.update(tomllib.loads(read_any_file(path, SECRETS_MAX_BYTES).decode("utf-8")))
        except FileNotFoundError:
            continue
        except (UnreadableFile, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SecretsFileError(f"{path}: {exc}") from None
    return merged


def login_providers(secrets: Mapping[str, Any]) -> list[str | None]:
    """The providers ``st.login`` can use with these secrets: None for the default one (its keys in
    ``[auth]`` itself), then the names of the complete ``[auth.NAME]`` tables. Empty when the shared
    ``redirect_uri`` or ``cookie_secret`` is missing."""
    auth = secrets.get("auth")
    if not isinstance(auth, Mapping) or not all(_filled(auth.get(key)) for key in SHARED_KEYS):
        return []
    providers: list[str | None] = [None] if all(_filled(auth.get(key)) for key in PROVIDER_KEYS) else []
    for name, section in auth.items():
        # Streamlit refuses a provider name with an underscore.
        if isinstance(section, Mapping) and "_" not in name and all(_filled(section.get(k)) for k in PROVIDER_KEYS):
            providers.append(name)
    return providers


def sign_in_configured(secrets: Mapping[str, Any] | None = None) -> bool:
    """True when ``secrets`` (default: load_secrets()) hold an ``[auth]`` section ``st.login`` can use."""
    return bool(login_providers(load_secrets() if secrets is None else secrets))


@dataclass(frozen=True)
class AllowList:
    """Who may see the dashboard once signed in: exact addresses and whole domains, lower-cased."""

    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    trust_unverified: bool = False  # admit an address whose provider says nothing of its verification

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any]) -> AllowList:
        """The ``[fixtrail_access]`` lists of ``secrets`` (a single string counts as a list of one)."""
        section = secrets.get(ACCESS_SECTION)
        section = section if isinstance(section, Mapping) else {}
        emails = {entry.strip().lower() for entry in _strings(section.get("allowed_emails"))}
        domains = {entry.strip().lower().removeprefix("@") for entry in _strings(section.get("allowed_domains"))}
        trust = section.get("trust_unverified_email") is True
        return cls(frozenset(emails - {""}), frozenset(domains - {""}), trust)

    def admits(self, email: str) -> bool:
        """True when ``email`` is listed, or its domain (all after the last "@", compared exactly) is."""
        address = email.strip().lower()
        local, at, domain = address.rpartition("@")
        return bool(at and local and domain) and (address in self.emails or domain in self.domains)


def refusal_reason(user: Mapping[str, Any], allowed: AllowList) -> str | None:
    """Why the signed-in ``user`` (``st.user``'s claims) may not see the dashboard, or None when they may.

    Refused: everyone when the allow-list is empty; a user without an e-mail address, or whose
    provider says ``email_verified`` is false, or says nothing of it (unless ``trust_unverified_email``
    is true under ``[fixtrail_access]``); an address neither listed nor of a listed domain.
    """
    email = str(user.get("email") or "").strip()
    who = email or str(user.get("name") or user.get("sub") or "an account without an e-mail address")
    if not allowed.emails and not allowed.domains:
        return (
            f"Signed in as {who}, but this dashboard's allow-list is empty, so nobody may see it: add "
            f"allowed_emails or allowed_domains under [{ACCESS_SECTION}] in .streamlit/secrets.toml."
        )
    if not email:
        return f"Signed in as {who}, but the provider gave no e-mail address to check against the allow-list."
    verified = user.get("email_verified")
    if verified is False or (isinstance(verified, str) and verified.strip().lower() == "false"):
        return f"Signed in as {email}, an address the provider has not verified."
    # Some providers let users set their own address and say nothing of it (Entra ID's "nOAuth"):
    # an address is trusted only when verified, unless the team says its provider guarantees them.
    if verified is None and not allowed.trust_unverified:
        return (
            f"Signed in as {email}, but the provider does not say the address is verified (email_verified). "
            f"If your provider guarantees its addresses, set trust_unverified_email = true under [{ACCESS_SECTION}]."
        )
    if not allowed.admits(email):
        return f"Signed in as {email}, who is not on this dashboard's allow-list."
    return None


def no_auth_requested() -> bool:
    """True when the dashboard was started with ``--no-auth`` (``$FIXTRAIL_NO_AUTH`` is 1)."""
    return os.environ.get(NO_AUTH_ENV, "").strip().lower() in ("1", "true", "yes")


def exposure_refusal(
    address: str | None,
    secrets: Mapping[str, Any] | None = None,
    no_auth: bool = False,
    files: Sequence[str] = (),
    names: Sequence[str] = (),
) -> str | None:
    """The one-line reason the dashboard must not listen on ``address``, or None when it may.

    It may on loopback, with sign-in configured in ``secrets`` (None: read from ``files``, see
    secrets_files), or with ``no_auth`` or $FIXTRAIL_NO_AUTH. An empty address, 0.0.0.0 and :: are
    every interface, not loopback; so is loopback answering to ``names`` beyond it (a reverse proxy's).
    """
    public = names_beyond_loopback(names)
    if (is_loopback(address) and not public) or no_auth or no_auth_requested():
        return None
    shown = address if address and address not in ("0.0.0.0", "::") else "every interface"  # noqa: S104
    if is_loopback(address):
        shown = f"{address}, answering to {', '.join(public)} (a proxy makes it reachable),"
    why = "without sign-in"
    try:
        if sign_in_configured(load_secrets(secrets_files(files)) if secrets is None else secrets):
            return None
    except SecretsFileError as exc:
        why = f"without sign-in (cannot read {exc})"
    return (
        f"Fixtrail dashboard: refusing to listen on {shown} {why}: anyone who can reach it could read every log. "
        f"Configure sign-in ([auth] and [{ACCESS_SECTION}]) in .streamlit/secrets.toml, or pass --no-auth "
        f"({NO_AUTH_ENV}=1)."
    )


def require_sign_in() -> None:
    """Run first in every script run: stop it unless the visitor may see the logs.

    Refuses outright (exposure_refusal) a server beyond loopback with nothing guarding it. Without
    sign-in configured: nothing to do (a banner on every page after ``--no-auth``). Otherwise: the
    sign-in screen until signed in, a refusal for someone not on the allow-list, and for the others
    their name and a "Sign out" button in the sidebar.
    """
    secrets = _streamlit_secrets()
    # Checked here too for `streamlit run` without dashboard.serve, and for secrets changed since the start.
    # AppTest runs the script with no server at all.
    listening = not config.get_option("global.appTest")
    refusal = exposure_refusal(config.get_option("server.address"), secrets) if listening else None
    if refusal:
        st.title("Fixtrail")
        st.error(refusal, icon=":material/lock:")
        st.stop()
    if not sign_in_configured(secrets):
        if no_auth_requested():
            st.warning(NO_AUTH_BANNER, icon=":material/lock_open:")
        return
    user = st.user.to_dict()
    if user.get("is_logged_in") is not True:
        _sign_in_screen(login_providers(secrets))
        st.stop()
    reason = refusal_reason(user, AllowList.from_secrets(secrets))
    if reason:
        st.title("Fixtrail")
        st.error(escape_markdown(reason), icon=":material/block:")
        st.button("Sign out", icon=":material/logout:", key="auth_sign_out", on_click=st.logout)
        st.stop()
    email, name = user.get("email"), user.get("name")
    st.sidebar.text(f"Signed in as {name} ({email})" if name else f"Signed in as {email}")  # text: no Markdown
    st.sidebar.button("Sign out", icon=":material/logout:", key="auth_sign_out", on_click=st.logout)


def signed_in_name() -> str | None:
    """The signed-in person's name (else e-mail address), for triage events; None when sign-in is off."""
    if not sign_in_configured(_streamlit_secrets()):
        return None
    user = st.user.to_dict()
    if user.get("is_logged_in") is not True:
        return None
    name = user.get("name") or user.get("email")
    return str(name) if name else None


def _sign_in_screen(providers: list[str | None]) -> None:
    """The page before sign-in: a title, a sentence, one "Sign in" button per provider; no log data."""
    st.title("Fixtrail")
    st.write("This dashboard shows private logs: sign in to see them.")
    for provider in providers:
        label = "Sign in" if len(providers) == 1 or provider is None else f"Sign in with {provider}"
        st.button(
            label,
            icon=":material/login:",
            key=f"auth_sign_in_{provider or 'default'}",
            on_click=st.login,
            args=(provider,),
        )


def _streamlit_secrets() -> dict[str, Any]:
    """The secrets as Streamlit holds them (its files, or an AppTest's), or {} when there are none."""
    return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list | tuple) else []
