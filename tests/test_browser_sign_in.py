"""Sign-in end to end (issue 33): Chromium signs in to ``python -m dashboard.serve`` through a real OpenID
Connect provider on loopback (oidc-provider-mock), and no page data reaches the browser before that."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chromium import BROWSER_MARKS, launched_chromium
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path("/tmp/signin_shots")  # a copy for people to look at
ALLOWED = {"email": "ana@example.com", "email_verified": True, "name": "Ana Lima"}
OUTSIDER = {"email": "mallory@evil-example.com", "email_verified": True, "name": "Mallory"}

pytestmark = BROWSER_MARKS


@contextlib.contextmanager
def oidc_provider() -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1 in a thread, with two predefined users (one button each on its
    authorization form) and client registration required; yields its URL."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    users = [User(sub="ana", claims=ALLOWED), User(sub="mallory", claims=OUTSIDER)]
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, app(require_client_registration=True, require_nonce=True, user_claims=users), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_secrets(path: Path, provider: str, dashboard: str) -> Path:
    """Register the dashboard with the provider and write the secrets.toml a team would write."""
    answer = httpx.post(f"{provider}/oauth2/clients", json={"redirect_uris": [f"{dashboard}/oauth2callback"]})
    answer.raise_for_status()
    client = answer.json()
    path.write_text(
        f"""[auth]
redirect_uri = "{dashboard}/oauth2callback"
cookie_secret = "{os.urandom(24).hex()}"
client_id = "{client["client_id"]}"
client_secret = "{client["client_secret"]}"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[fixtrail_access]
allowed_emails = ["Ana@Example.com"]
allowed_domains = ["team.example.org"]
""",
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def streamlit_server(options: list[str], port: int, **extra_env: str) -> Iterator[str]:
    """``python -m OPTIONS`` from the repository, without sign-in settings of this environment; yields
    its URL once ``/_stcore/health`` answers, and stops it at the end."""
    env = {k: v for k, v in os.environ.items() if k not in ("FIXTRAIL_NO_AUTH", "STREAMLIT_SERVER_ADDRESS")}
    server = subprocess.Popen(
        [sys.executable, "-m", *options],
        cwd=ROOT,
        env=env | extra_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("streamlit did not start")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(20)


@pytest.fixture
def page():
    with launched_chromium() as browser:
        yield browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()


class Frames:
    """Every WebSocket frame the page receives, as bytes."""

    def __init__(self, page) -> None:
        self.received: list[bytes] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload: str | bytes) -> None:
        self.received.append(payload.encode("utf-8") if isinstance(payload, str) else payload)

    def holding(self, texts: list[str]) -> list[str]:
        """The ones of ``texts`` that some frame carries."""
        return [text for text in texts if any(text.encode("utf-8") in frame for frame in self.received)]


def _sign_in_as(page, subject: str) -> None:
    """Click "Sign in", then the subject's button on the provider's authorization form."""
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=subject, exact=True).click(timeout=30_000)


def _sign_out(page) -> None:
    """Click "Sign out", then confirm on the provider's end-session page, which leads back to the dashboard."""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=30_000)


def _shot(page, tmp_path: Path, name: str) -> None:
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / f"{name}.png", SHOTS / f"{name}.png")


def test_sign_in_through_a_real_provider_refuses_outsiders_and_sends_nothing_before(
    demo_tree, tmp_path, cache_dir, page
):
    logs, counts = demo_tree
    some_log_id = next((logs / "failures").rglob("*.json")).stem
    # What the Overview shows once signed in (two metrics' labels, two of the tree's models in the sidebar's
    # filter): none of it, nor a log id or an error of the tree, may reach the browser before. (Page titles
    # do: Streamlit sends the navigation's pages with every run of a session that has drawn them.)
    private = ["Total failures", "Success rate", "gemini-2.5-pro", "claude-sonnet-4"]
    port = free_port()
    dashboard = f"http://127.0.0.1:{port}"
    with (
        oidc_provider() as provider,
        streamlit_server(
            ["dashboard.serve", "--server.port", str(port), "--", "--logs-dir", str(logs)],
            port,
            FIXTRAIL_CACHE_DIR=str(cache_dir),
            FIXTRAIL_SECRETS_FILE=str(write_secrets(tmp_path / "secrets.toml", provider, dashboard)),
        ) as url,
    ):
        frames = Frames(page)
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # the run's last messages
        _shot(page, tmp_path, "1_before_sign_in")
        assert frames.received, "no WebSocket frame was recorded"
        assert frames.holding([*private, some_log_id, "ModuleNotFoundError"]) == []

        frames.received.clear()
        _sign_in_as(page, "mallory")
        page.get_by_text("who is not on this dashboard").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        _shot(page, tmp_path, "2_refused_outsider")
        assert page.url.rstrip("/") == url
        assert frames.holding([*private, some_log_id, "ModuleNotFoundError"]) == []
        assert frames.holding(["mallory"]) == ["mallory"]  # the frames are read: the refusal names the address

        _sign_out(page)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        _sign_in_as(page, "ana")
        tile = page.locator('[data-testid="stMetric"]').filter(has_text="Total failures")
        tile.locator('[data-testid="stMetricValue"]').wait_for(timeout=60_000)
        assert tile.locator('[data-testid="stMetricValue"]').inner_text() == f"{counts.failures:,}"
        page.get_by_text("Signed in as Ana Lima (ana@example.com)").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        _shot(page, tmp_path, "3_signed_in")
        assert frames.holding(private) == private  # what was absent before is there now

        frames.received.clear()
        _sign_out(page)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        _shot(page, tmp_path, "4_signed_out")
        assert page.locator('[data-testid="stMetric"]').count() == 0
        assert frames.holding(private) == []


def test_streamlit_run_on_every_interface_without_sign_in_shows_nothing(small_tree, tmp_path, cache_dir, page):
    """``streamlit run`` itself (not dashboard.serve, which would refuse to start): the script refuses."""
    port = free_port()
    options = ["--server.address", "0.0.0.0", "--server.port", str(port), "--secrets.files", str(tmp_path / "none")]
    command = ["streamlit", "run", "dashboard/streamlit_app.py", *options, "--", "--logs-dir", str(small_tree)]
    with streamlit_server(command, port, FIXTRAIL_CACHE_DIR=str(cache_dir), HOME=str(tmp_path)) as url:
        frames = Frames(page)
        page.goto(url)
        page.get_by_text("refusing to listen on every interface").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        _shot(page, tmp_path, "5_streamlit_run_refused")
        assert frames.holding(["Total failures", "model-a", "cv2"]) == []  # the small tree's model and error
        assert page.locator('[data-testid="stMetric"]').count() == 0
