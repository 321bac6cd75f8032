"""End to end in a real browser: Debian's Chromium, driven by Playwright, against `streamlit run`."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = {
    "Overview": "",
    "Errors": "errors",
    "Unfixed failures": "unfixed",
    "Sessions": "sessions",
    "Recommendations": "recommendations",
    "Data health": "health",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dashboard_url(small_tree, cache_dir):
    port = _free_port()
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": str(cache_dir)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "streamlit_app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--",
            "--logs-dir",
            str(small_tree),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        yield context.new_page()
        browser.close()


def test_overview_row_opens_session_and_csv_downloads(dashboard_url, page, request, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    shots = request.config.getoption("--screenshots")
    page.goto(dashboard_url)
    page.get_by_text("Total failures").first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "4"
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        for title, slug in PAGES.items():
            page.goto(f"{dashboard_url}/{slug}")
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(Path(shots) / f"{slug or 'overview'}.png"), full_page=True)

    page.goto(f"{dashboard_url}/unfixed")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    heading = page.get_by_role("heading", name="Session timeline")
    for _ in range(5):  # the grid may still be laying itself out on a busy machine: click again
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the row marker of the first data row
        try:
            heading.wait_for(timeout=8_000)
            break
        except PlaywrightTimeout:
            continue
    heading.wait_for(timeout=30_000)
    assert "session=S2" in page.url
    page.get_by_text("import cv2").first.wait_for(timeout=30_000)
    if shots:
        page.screenshot(path=str(Path(shots) / "session_timeline.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="CSV").last.click()
    target = tmp_path / "session.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [row["log_id"] for row in rows] == ["s2-a1"]
    assert rows[0]["status"] == "failed"
