"""Sign-in for the dashboard (issue 33): the allow-list rule, where sign-in counts as configured, the
refusal to listen beyond loopback unguarded, and what each page shows before and after sign-in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import (
    NO_AUTH_BANNER,
    AllowList,
    exposure_refusal,
    load_secrets,
    login_providers,
    refusal_reason,
    sign_in_configured,
)
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "streamlit_app.py")
AUTH = """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-long-random-string-for-the-cookie"
client_id = "fixtrail"
client_secret = "s3cret"
server_metadata_url = "https://idp.example.com/.well-known/openid-configuration"
"""
ACCESS = """
[fixtrail_access]
allowed_emails = ["Ana@Example.com"]
allowed_domains = ["team.example.org", "@Second.Example"]
"""
SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "a-long-random-string-for-the-cookie",
        "client_id": "fixtrail",
        "client_secret": "s3cret",
        "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
    },
    "fixtrail_access": {"allowed_emails": ["ana@example.com"]},
}


@pytest.fixture
def no_user_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Streamlit's usual places hold no secrets: HOME and the current directory are empty, nothing is set."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    for name in ("FIXTRAIL_SECRETS_FILE", "FIXTRAIL_NO_AUTH", "STREAMLIT_SERVER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("ana@example.com", True),
        ("ANA@example.COM", True),  # case does not matter
        ("bob@example.com", False),  # the address is listed, not its domain
        ("bob@team.example.org", True),
        ("Bob@TEAM.example.ORG", True),
        ("carol@second.example", True),  # "@second.example" in the list means the domain
        ("eve@evil-team.example.org", False),
        ("eve@team.example.org.evil.org", False),
        ("eve@sub.team.example.org", False),  # exact domain: no subdomains
        ("team.example.org", False),
        ("@team.example.org", False),  # no local part
        ("eve@evil.org@team.example.org", True),  # the domain is what follows the last "@"
        ("ana@example.com@evil.org", False),
    ],
)
def test_allow_list_matches_addresses_and_exact_domains(tmp_path, email, allowed):
    path = tmp_path / "secrets.toml"
    path.write_text(ACCESS)
    rule = AllowList.from_secrets(load_secrets([path]))
    assert rule.admits(email) is allowed
    reason = refusal_reason({"is_logged_in": True, "email": email, "email_verified": True}, rule)
    assert (reason is None) is allowed
    if not allowed:
        assert "allow-list" in reason


@pytest.mark.parametrize("verified", [False, "false", "False"])
def test_an_address_the_provider_has_not_verified_is_refused(verified):
    rule = AllowList(emails=frozenset({"ana@example.com"}))
    assert refusal_reason({"email": "ana@example.com", "email_verified": True}, rule) is None
    reason = refusal_reason({"email": "ana@example.com", "email_verified": verified}, rule)
    assert reason == "Signed in as ana@example.com, an address the provider has not verified."


def test_an_address_the_provider_says_nothing_of_is_refused_unless_the_team_trusts_it():
    """A provider that lets users set their own address may send no email_verified claim at all."""
    rule = AllowList(domains=frozenset({"example.com"}))
    reason = refusal_reason({"email": "anyone@example.com"}, rule)
    assert reason is not None and "trust_unverified_email" in reason
    trusting = AllowList.from_secrets(
        {"fixtrail_access": {"allowed_domains": ["example.com"], "trust_unverified_email": True}}
    )
    assert refusal_reason({"email": "anyone@example.com"}, trusting) is None


def test_an_empty_allow_list_refuses_everyone_and_says_what_to_add():
    verified = {"email": "ana@example.com", "name": "Ana", "email_verified": True}
    assert refusal_reason(verified, AllowList.from_secrets(SECRETS)) is None
    for access in ({}, {"fixtrail_access": {}}, {"fixtrail_access": {"allowed_emails": [], "allowed_domains": [" "]}}):
        reason = refusal_reason({"email": "ana@example.com"}, AllowList.from_secrets(access))
        assert reason is not None
        assert "allowed_emails" in reason and "allowed_domains" in reason and "[fixtrail_access]" in reason


def test_no_email_is_refused():
    reason = refusal_reason({"name": "Ana", "sub": "123"}, AllowList(domains=frozenset({"example.com"})))
    assert reason is not None and "no e-mail address" in reason


@pytest.mark.parametrize(
    ("text", "providers"),
    [
        (AUTH, [None]),
        (AUTH.replace('cookie_secret = "a-long-random-string-for-the-cookie"', ""), []),
        (AUTH.replace('redirect_uri = "http://localhost:8501/oauth2callback"', ""), []),
        (AUTH.replace('client_secret = "s3cret"', 'client_secret = ""'), []),
        (
            '[auth]\nredirect_uri = "http://x:8501/oauth2callback"\ncookie_secret = "c"\n'
            '[auth.okta]\nclient_id = "i"\nclient_secret = "s"\nserver_metadata_url = "https://o/.well-known/x"\n'
            '[auth.half]\nclient_id = "i"\n'
            '[auth.with_underscore]\nclient_id = "i"\nclient_secret = "s"\nserver_metadata_url = "https://u"\n',
            ["okta"],
        ),
        (ACCESS, []),
        ("", []),
    ],
)
def test_sign_in_is_configured_when_st_login_has_what_it_needs(tmp_path, text, providers):
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    secrets = load_secrets([path])
    assert login_providers(secrets) == providers
    assert sign_in_configured(secrets) is bool(providers)


def test_sign_in_is_read_from_where_streamlit_reads_secrets(no_user_secrets, tmp_path, monkeypatch):
    home = no_user_secrets
    assert not sign_in_configured()
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "secrets.toml").write_text(AUTH + ACCESS)  # ~/.streamlit and ./.streamlit
    assert sign_in_configured()
    project = tmp_path / "project"
    (project / ".streamlit").mkdir(parents=True)
    # Streamlit merges files table by table: the project's [auth] replaces the global one whole.
    (project / ".streamlit" / "secrets.toml").write_text('[auth]\nredirect_uri = "http://h/oauth2callback"\n')
    monkeypatch.chdir(project)
    assert not sign_in_configured()
    explicit = tmp_path / "explicit.toml"
    explicit.write_text(AUTH)
    monkeypatch.setenv("FIXTRAIL_SECRETS_FILE", str(explicit))  # read instead of the usual places
    assert sign_in_configured()
    explicit.write_text(ACCESS)
    assert not sign_in_configured()


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", False),
        ("127.0.2.9", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("", True),
        (None, True),
        ("192.168.1.20", True),
        ("dashboard.example.com", True),
    ],
)
def test_only_loopback_is_open_without_sign_in(no_user_secrets, address, refused):
    reason = exposure_refusal(address)
    assert (reason is not None) is refused
    if refused:
        assert "\n" not in reason and "secrets.toml" in reason and "--no-auth" in reason
        assert exposure_refusal(address, SECRETS) is None  # sign-in configured
        assert exposure_refusal(address, no_auth=True) is None


def test_an_unreadable_secrets_file_is_named_in_the_refusal(no_user_secrets, tmp_path, monkeypatch):
    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\nredirect_uri =")
    monkeypatch.setenv("FIXTRAIL_SECRETS_FILE", str(broken))
    reason = exposure_refusal("0.0.0.0")
    assert reason is not None and str(broken) in reason and "\n" not in reason
    assert exposure_refusal("127.0.0.1") is None


def test_dashboard_serve_finds_the_address_as_streamlit_does(no_user_secrets, monkeypatch):
    from dashboard.serve import listen_address

    home = no_user_secrets  # also the current directory: no config.toml
    assert listen_address([]) is None  # Streamlit's default: every interface
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "config.toml").write_text('[server]\naddress = "0.0.0.0"\n')
    assert listen_address([]) == "0.0.0.0"
    monkeypatch.chdir(ROOT)  # the project's config.toml comes before ~/.streamlit's
    assert listen_address([]) == "127.0.0.1"
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "10.1.2.3")
    assert listen_address([]) == "10.1.2.3"
    assert listen_address(["--server.address=::", "--", "--server.address", "x"]) == "::"
    assert listen_address(["--server.port", "1", "--server.address", "localhost"]) == "localhost"


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without sign-in settings, secrets read only from an empty file of the test's own."""
    env = {k: v for k, v in os.environ.items() if k not in ("FIXTRAIL_NO_AUTH", "STREAMLIT_SERVER_ADDRESS")}
    return env | {"FIXTRAIL_SECRETS_FILE": str(tmp_path / "no-secrets.toml"), "HOME": str(tmp_path), **extra}


def test_dashboard_serve_refuses_every_interface_without_sign_in(small_tree, tmp_path):
    command = [sys.executable, "-m", "dashboard.serve", "--server.address", "0.0.0.0", "--server.port"]
    done = subprocess.run(
        [*command, str(free_port()), "--", "--logs-dir", str(small_tree)],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "every interface" in lines[0] and "secrets.toml" in lines[0] and "--no-auth" in lines[0]


def test_the_dashboard_command_refuses_too_and_says_why_in_one_line(small_tree, tmp_path):
    done = subprocess.run(
        [sys.executable, "analyze_logs.py", "--logs-dir", str(small_tree), "dashboard", "--host", "0.0.0.0"],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if "refusing" in line] == done.stderr.splitlines()[-1:]
    assert "--no-auth" in done.stderr


def test_dashboard_serve_starts_on_every_interface_with_no_auth(small_tree, cache_dir, tmp_path):
    port = free_port()
    options = ["--server.address", "0.0.0.0", "--server.port", str(port), "--", "--logs-dir", str(small_tree)]
    server = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve", *options],
        cwd=ROOT,
        env=_clean_env(tmp_path, FIXTRAIL_NO_AUTH="1", FIXTRAIL_CACHE_DIR=str(cache_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the server did not answer"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(20)


def _app(monkeypatch: pytest.MonkeyPatch, logs: Path, secrets: dict | None = None, user: dict | None = None) -> AppTest:
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    if secrets:
        at.secrets.update(secrets)
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_with_no_auth_every_page_carries_the_banner(small_tree, cache_dir, monkeypatch, no_user_secrets):
    monkeypatch.chdir(ROOT)  # the project's .streamlit/config.toml: loopback
    monkeypatch.setenv("FIXTRAIL_NO_AUTH", "1")
    at = _app(monkeypatch, small_tree)
    assert at.warning[0].value == NO_AUTH_BANNER
    assert at.warning[0].icon == ":material/lock_open:"
    assert {m.label: m.value for m in at.metric}["Total failures"] == "4"  # the page itself works as before
    at.switch_page("app_pages/errors.py").run()
    assert at.warning[0].value == NO_AUTH_BANNER
    monkeypatch.delenv("FIXTRAIL_NO_AUTH")
    assert NO_AUTH_BANNER not in [w.value for w in _app(monkeypatch, small_tree).warning]


def test_before_sign_in_only_the_sign_in_screen_is_drawn_and_no_log_is_read(small_tree, cache_dir, monkeypatch):
    at = _app(monkeypatch, small_tree, SECRETS)
    assert [b.label for b in at.button] == ["Sign in"]
    assert [t.value for t in at.title] == ["Fixtrail"]
    assert not at.metric and not at.sidebar.multiselect and not at.sidebar.text_input
    assert not cache_dir.exists() or not any(cache_dir.iterdir())  # no index was opened


def test_a_signed_in_address_off_the_list_is_refused(small_tree, cache_dir, monkeypatch):
    user = {"is_logged_in": True, "email": "mallory@evil-example.com", "name": "Mallory", "email_verified": True}
    at = _app(monkeypatch, small_tree, SECRETS, user)
    assert at.error[0].value.replace("\u200b", "").replace("\\", "") == (
        "Signed in as mallory@evil-example.com, who is not on this dashboard's allow-list."
    )
    assert [b.label for b in at.button] == ["Sign out"]
    assert not at.metric
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_an_allowed_person_sees_the_pages_and_their_name(small_tree, cache_dir, monkeypatch):
    user = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana Lima", "email_verified": True}
    at = _app(monkeypatch, small_tree, SECRETS, user)
    assert {m.label: m.value for m in at.metric}["Total failures"] == "4"
    assert "Signed in as Ana Lima (ana@example.com)" in [t.value for t in at.sidebar.text]
    assert "Sign out" in [b.label for b in at.sidebar.button]
    assert not at.warning or NO_AUTH_BANNER not in [w.value for w in at.warning]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the child's environment in /proc")
def test_the_dashboard_command_tells_its_server_about_no_auth(small_tree, cache_dir, tmp_path):
    command = [sys.executable, "analyze_logs.py", "--logs-dir", str(small_tree), "dashboard", "--no-auth"]
    cli = subprocess.Popen(
        [*command, "--port", str(free_port())],
        cwd=ROOT,
        env=_clean_env(tmp_path, FIXTRAIL_CACHE_DIR=str(cache_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        children = Path(f"/proc/{cli.pid}/task/{cli.pid}/children")
        deadline = time.monotonic() + 60
        while not children.read_text().split():
            assert cli.poll() is None and time.monotonic() < deadline, "the dashboard's server never started"
            time.sleep(0.1)
        server = children.read_text().split()[0]
        while b"dashboard.serve" not in Path(f"/proc/{server}/cmdline").read_bytes():  # until it has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.1)
        environment = Path(f"/proc/{server}/environ").read_bytes().split(b"\0")
        assert b"FIXTRAIL_NO_AUTH=1" in environment
    finally:
        cli.terminate()
        cli.wait(30)
