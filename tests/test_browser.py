"""End to end in a real browser: Debian's Chromium, driven by Playwright, against `python -m dashboard.serve`."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chromium import BROWSER_MARKS, launched_chromium
from tests.conftest import AS_OF, write_record, write_session_file
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "Overview": "",
    "Errors": "errors",
    "Unfixed failures": "unfixed",
    "Sessions": "sessions",
    "Recommendations": "recommendations",
    "Data health": "health",
}

# True once the app's script is not running (Streamlit marks its root element).
IDLE = (
    "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state') === 'notRunning'"
)

pytestmark = BROWSER_MARKS


@contextlib.contextmanager
def serve_dashboard(logs: Path, cache_dir: Path) -> Iterator[str]:
    """The dashboard as ``make run`` starts it (from the repository, ``--logs-dir`` relative); yields its URL."""
    port = free_port()
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": str(cache_dir)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard.serve",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--",
            "--logs-dir",
            os.path.relpath(logs, ROOT),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
def dashboard_url(small_tree, cache_dir):
    with serve_dashboard(small_tree, cache_dir) as url:
        yield url


@pytest.fixture
def page():
    with launched_chromium() as browser:
        yield browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()


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
    # the grouped errors come first; the flat list of failures is one tab away
    page.get_by_role("tab", name="Every failure").click()
    grid = page.locator('[data-testid="stDataFrame"]:visible').first
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

    target = tmp_path / "session.csv"
    _download(page, page.get_by_role("button", name="CSV").last).save_as(target)
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [row["log_id"] for row in rows] == ["s2-a1"]
    assert rows[0]["status"] == "failed"
    assert "import cv2" in rows[0]["code"] and "cv2" in rows[0]["stderr"]


def _wait_until_idle(page, seconds: float = 60) -> None:
    """Wait until the app's script run has ended: Streamlit shows its status widget only while it runs.

    Idle means no status widget for a whole second, as a run may start just after a click.
    """
    deadline = time.monotonic() + seconds
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.0:
        if page.locator('[data-testid="stStatusWidget"]').count():
            quiet_since = time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"the page was still running after {seconds:.0f} s")
        page.wait_for_timeout(200)


def _download(page, button, seconds: float = 120):
    """Click a download button once the page is idle and return the download.

    The file is made on click; a click that lands while a rerun replaces the button is lost, and
    a lost answer leaves the button disabled, so reload and click again (as a user would) until
    the download starts.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + seconds
    while True:
        _wait_until_idle(page)
        button.scroll_into_view_if_needed()
        try:
            with page.expect_download(timeout=20_000) as download_info:
                button.click(timeout=20_000)
            return download_info.value
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
            page.reload()  # a lost answer leaves the button disabled: reload, as a user would


def _eventually(page, read, expected, seconds: float = 30):
    """Wait until ``read()`` gives ``expected`` (a page reruns after each change), then assert it."""
    deadline = time.monotonic() + seconds
    while read() != expected and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    assert read() == expected


def _metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')


def test_reload_shows_new_logs_with_a_relative_logs_dir(dashboard_url, small_tree, page):
    page.goto(dashboard_url)
    successes = _metric(page, "Total successes")
    successes.wait_for(timeout=60_000)
    assert successes.inner_text() == "3"
    write_record(small_tree, log_id="late-1", session_id="S2", status="success", when=AS_OF)
    page.get_by_role("button", name="Reload logs").click()
    deadline = time.monotonic() + 30
    while successes.inner_text() != "4" and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    assert successes.inner_text() == "4"
    assert _metric(page, "Unfixed failures").inner_text() == "0"


def test_log_values_with_markdown_fetch_nothing_and_render_as_text(tmp_path, cache_dir, page):
    logs = tmp_path / "logs"
    image = "![x](http://127.0.0.1:9/x.png)"
    link = "[phish](http://127.0.0.1:9/login)"
    path = write_record(logs, log_id="plain", session_id="MD", when=AS_OF)
    path.write_text(json.dumps({**json.loads(path.read_text()), "log_id": image, "status": link}))
    write_session_file(logs, "MD", [image, "$$x^2$$"])
    outgoing: list[str] = []
    page.on("request", lambda request: outgoing.append(request.url))
    with serve_dashboard(logs, cache_dir) as url:
        page.goto(f"{url}/sessions?session=MD")
        page.get_by_role("heading", name="Session timeline").wait_for(timeout=60_000)
        page.get_by_text("x.png").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        assert page.locator(".katex").count() == 0
        assert page.locator('a[href^="http://127.0.0.1:9"]').count() == 0
        assert page.locator('img[src^="http://127.0.0.1:9"]').count() == 0
        page.goto(f"{url}/sessions?session=" + link)
        page.get_by_text("Session not found").wait_for(timeout=60_000)
        assert page.locator('a[href^="http://127.0.0.1:9"]').count() == 0
    assert not [u for u in outgoing if u.startswith("http://127.0.0.1:9/")]


def test_a_shared_url_reopens_the_filtered_view_on_every_page(dashboard_url, page, request):
    page.goto(f"{dashboard_url}/?model=model-b&tag=lib:numpy")
    failures = _metric(page, "Total failures")
    failures.wait_for(timeout=60_000)
    deadline = time.monotonic() + 30
    while (failures.inner_text(), _metric(page, "Total successes").inner_text()) != ("0", "1"):
        assert time.monotonic() < deadline, "the URL's filters were not applied"
        page.wait_for_timeout(300)
    if shots := request.config.getoption("--screenshots"):
        page.screenshot(path=str(Path(shots) / "filtered_overview.png"), full_page=True)
    page.get_by_role("link", name="Sessions").first.click()
    page.get_by_role("heading", name="Sessions").first.wait_for(timeout=60_000)
    _eventually(page, lambda: _metric(page, "Sessions").inner_text(), "1")
    assert "model=model-b" in page.url and "tag=lib" in page.url
    page.reload()
    _metric(page, "Sessions").wait_for(timeout=60_000)
    _eventually(page, lambda: _metric(page, "Sessions").inner_text(), "1")
    page.get_by_role("button", name="Clear filters").click()
    deadline = time.monotonic() + 30
    while _metric(page, "Sessions").inner_text() != "4":
        assert time.monotonic() < deadline, "Clear filters did not clear them"
        page.wait_for_timeout(300)
    assert "model=" not in page.url


def test_a_click_on_a_day_bar_filters_the_page_to_that_day(dashboard_url, page, request):
    page.goto(dashboard_url)
    _metric(page, "Total failures").wait_for(timeout=60_000)
    chart = page.locator('.st-key-overview_days_chart [data-testid="stVegaLiteChart"]')  # attempts per day
    page.wait_for_function(IDLE, timeout=60_000)
    page.wait_for_timeout(1500)  # the charts above drawn: the chart is where it stays
    chart.evaluate("element => element.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    box = chart.bounding_box()
    for x in range(int(box["x"] + 40), int(box["x"] + box["width"] - 10), 6):
        page.mouse.click(x, box["y"] + box["height"] - 58)
        page.wait_for_timeout(150)
        # A click on a bar reruns the script, which writes the URL: wait for that run before the next
        # click (on a busy machine a click that landed could otherwise be undone by the next one).
        page.wait_for_function(IDLE, timeout=20_000)
        if "start=" in page.url:
            break
    deadline = time.monotonic() + 20
    while not ("start=" in page.url and "end=" in page.url) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    if shots := request.config.getoption("--screenshots"):
        page.screenshot(path=str(Path(shots) / "day_clicked.png"), full_page=True)
    day = page.url.split("start=")[1].split("&")[0]
    assert f"end={day}" in page.url
    per_day = {"2025-12-11": 3, "2025-12-18": 2, "2025-12-19": 1, "2025-12-20": 1}  # the small tree's attempts

    def shown() -> int:
        return int(_metric(page, "Total failures").inner_text()) + int(_metric(page, "Total successes").inner_text())

    _eventually(page, shown, per_day[day])


def test_a_typed_date_applies_on_enter_and_a_bad_one_says_why(dashboard_url, page):
    page.goto(dashboard_url)
    failures = _metric(page, "Total failures")
    failures.wait_for(timeout=60_000)
    start = page.get_by_placeholder("YYYY-MM-DD").first
    start.fill("2025-12-19")
    start.press("Enter")
    deadline = time.monotonic() + 30
    while "start=2025-12-19" not in page.url or failures.inner_text() != "1":
        assert time.monotonic() < deadline, (page.url, failures.inner_text())
        page.wait_for_timeout(300)
    start.fill("2025-13-01")
    start.press("Enter")
    page.get_by_text("is not a date (YYYY-MM-DD): not applied").wait_for(timeout=30_000)
    assert failures.inner_text() == "4"
