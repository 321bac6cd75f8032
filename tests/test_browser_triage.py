"""Triage and shared addresses in a real browser (Debian's Chromium, Playwright, `python -m dashboard.serve`):
resolve an error on its page, log a new failure of it, reload: it is back as regressed on the Overview,
and `check` alerts on it once; a Compare address opened in a new browser shows the same comparison."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loaders.annotations.triage import read_triage
from tests.chromium import BROWSER_MARKS, launched_chromium
from tests.conftest import write_record
from tests.test_browser import IDLE, serve_dashboard

ROOT = Path(__file__).resolve().parents[1]
KEY_ERROR = {
    "error_type": "KeyError",
    "error_message": "Script exited with code 1. Error: User code error: KeyError: 'band'",
    "stderr": "Traceback (most recent call last):\nKeyError: 'band'\n",
}

pytestmark = BROWSER_MARKS


def _cli(logs: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ}, cwd=ROOT)


@pytest.fixture
def recent_tree(tmp_path) -> Path:
    """KeyError failures over the last days (and successes of another model), so the 7 days to now hold them."""
    root = tmp_path / "logs"
    now = datetime.now()
    for n in range(4):
        write_record(root, log_id=f"key-{n}", session_id=f"K{n}", when=now - timedelta(days=3, hours=n), **KEY_ERROR)
        write_record(
            root, log_id=f"ok-{n}", session_id=f"O{n}", status="success", when=now - timedelta(days=2, hours=n)
        )
    return root


@pytest.fixture
def browser():
    with launched_chromium() as launched:
        yield launched


def _settled(page) -> None:
    page.wait_for_function(IDLE, timeout=60_000)


def _list_shown(page) -> None:
    """Wait until the Errors page shows its list (its caption) and its run has ended."""
    page.get_by_text("errors: failures with the same key line", exact=False).wait_for(timeout=60_000)
    _settled(page)


def test_resolve_then_a_new_failure_brings_it_back_as_regressed(recent_tree, cache_dir, browser, tmp_path, request):
    triage = json.loads(_cli(recent_tree, "--json", "triage").stdout)
    fingerprint = triage["errors"][0]["fingerprint"]
    shots = request.config.getoption("--screenshots")
    with serve_dashboard(recent_tree, cache_dir) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/errors?error={fingerprint}")
        page.get_by_role("button", name="Resolve", exact=True).wait_for(timeout=60_000)
        page.get_by_role("button", name="Resolve", exact=True).click()
        page.get_by_role("button", name="Reopen").wait_for(timeout=30_000)
        _settled(page)
        assert page.get_by_text("resolved", exact=False).count() > 0
        assert [event.action for event in read_triage(recent_tree).events] == ["resolve"]
        page.screenshot(path=str(tmp_path / "error_resolved.png"), full_page=True)
        if shots:
            page.screenshot(path=str(Path(shots) / "error_resolved.png"), full_page=True)
        # a new failure of the same error, logged after the resolution
        write_record(recent_tree, log_id="key-back", session_id="KB", when=datetime.now(), **KEY_ERROR)
        page.goto(url)
        page.get_by_text("are back", exact=False).wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "overview_regressed.png"), full_page=True)
    first, second = _cli(recent_tree, "check"), _cli(recent_tree, "check")
    assert first.returncode == 1 and "Resolved error failed again: KeyError: 'band'" in first.stdout
    assert second.returncode == 0  # once


def test_a_compare_address_opens_the_same_comparison_in_a_new_browser(recent_tree, cache_dir, browser):
    address = "/compare?a=model%3Dmodel-a&b=status%3Dfailed"
    with serve_dashboard(recent_tree, cache_dir) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url + address)
        page.get_by_text("First-try success: A → B").first.wait_for(timeout=60_000)
        assert page.get_by_label("Cohort A").input_value() == "model=model-a"
        assert page.get_by_label("Cohort B").input_value() == "status=failed"


def test_back_after_opening_an_error_returns_to_the_list_and_its_filters(recent_tree, cache_dir, browser):
    with serve_dashboard(recent_tree, cache_dir) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/errors?status=failed&triage=all")
        _list_shown(page)
        # the wide layout's grid (the narrow layout's is in the page too, hidden at this width)
        shown = page.locator(".st-key-errors_groups_wide_layout [data-testid='stDataFrame']")
        shown.wait_for(state="visible", timeout=60_000)
        grid = shown.bounding_box()
        page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)  # the first row's selection box
        page.get_by_text("Triage:", exact=False).wait_for(timeout=60_000)
        assert "error=" in page.url and "status=failed" in page.url
        page.go_back()
        _list_shown(page)
        assert "error=" not in page.url and "status=failed" in page.url and "triage=all" in page.url
        assert page.get_by_text("Triage:", exact=False).count() == 0
        page.go_forward()
        page.get_by_text("Triage:", exact=False).wait_for(timeout=60_000)


def _click_link_cell(page, grid, row: int, x: float) -> None:
    """Click the link text of a grid's cell (``x`` pixels from the grid's left edge, data row ``row``):
    the grid follows a link only under a pointer that has moved over it."""
    grid.wait_for(state="visible", timeout=60_000)
    box = grid.bounding_box()
    y = box["y"] + 35 + 17 + 35 * row
    page.mouse.move(box["x"] + x - 2, y)
    page.mouse.move(box["x"] + x, y)
    page.mouse.click(box["x"] + x, y)


def test_an_error_and_a_session_open_by_clicking_their_text_and_back_returns(recent_tree, cache_dir, browser):
    with serve_dashboard(recent_tree, cache_dir) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/errors?status=failed&triage=all")
        _list_shown(page)
        _click_link_cell(page, page.locator('[data-testid="stDataFrame"]:visible').first, 0, 60)  # the error's text
        page.get_by_text("Triage:", exact=False).wait_for(timeout=60_000)
        _settled(page)
        assert "error=" in page.url and "status=failed" in page.url and "triage=all" in page.url
        assert len(page.context.pages) == 1  # in the same tab
        # an occurrence's error line opens its session at that attempt
        occurrences = page.locator('[data-testid="stDataFrame"]:visible').first
        occurrences.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        _click_link_cell(page, occurrences, 0, 200)
        page.get_by_role("heading", name="Session timeline").wait_for(timeout=60_000)
        assert "session=K" in page.url and "attempt=key-" in page.url and "status=failed" in page.url
        page.go_back()
        page.get_by_text("Triage:", exact=False).wait_for(timeout=60_000)
        assert "error=" in page.url
        page.go_back()
        _list_shown(page)
        assert "error=" not in page.url and "triage=all" in page.url


@pytest.mark.parametrize("width", [400, 1400])
def test_the_issue_list_on_a_phone_shows_the_count_and_last_seen_beside_the_error(
    recent_tree, cache_dir, browser, width, tmp_path
):
    with serve_dashboard(recent_tree, cache_dir) as url:
        page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
        page.goto(f"{url}/errors")
        page.get_by_text("errors: failures with the same key line", exact=False).wait_for(timeout=60_000)
        page.locator("[data-testid='stDataFrame']").first.wait_for(state="attached", timeout=60_000)
        _settled(page)
        narrow = page.locator(".st-key-errors_groups_narrow_layout [data-testid='stDataFrame']")
        wide = page.locator(".st-key-errors_groups_wide_layout [data-testid='stDataFrame']")
        shown, hidden = (narrow, wide) if width < 640 else (wide, narrow)
        # the other layout is hidden by the page's style, which may apply a moment after its grid is drawn
        shown.wait_for(state="visible", timeout=60_000)
        hidden.wait_for(state="hidden", timeout=60_000)
        assert shown.is_visible() and not hidden.is_visible()
        box = shown.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width  # the list fits the screen
        # the grid's accessible copy holds the cells drawn on screen: the count and last seen among them
        page.wait_for_timeout(1000)
        cells = shown.locator("[role='gridcell']").all_inner_texts()
        page.screenshot(path=str(tmp_path / f"issue_list_{width}.png"), full_page=True)
        # the error (its cell's address), then its count and last seen, in a row
        error = next(n for n, cell in enumerate(cells) if cell.endswith("#KeyError: 'band'"))
        last_seen = re.fullmatch(r"(\d{4}-)?\d\d-\d\d \d\d:\d\d(:\d\d)?", cells[error + 2])
        assert cells[error + 1] == "4" and last_seen, cells
        # a row selected in this layout opens the error; "All errors" closes it
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
        page.get_by_role("button", name="All errors").wait_for(timeout=60_000)
        page.get_by_role("button", name="All errors").click()
        _list_shown(page)
        assert "error=" not in page.url and page.get_by_role("button", name="All errors").count() == 0


def test_pages_without_filters_hide_them_and_the_filters_come_back_on_the_next_page(recent_tree, cache_dir, browser):
    with serve_dashboard(recent_tree, cache_dir) as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/errors?model=model-a")
        page.get_by_text("errors: failures with the same key line", exact=False).wait_for(timeout=60_000)
        model = page.locator("[data-testid='stSidebar']").get_by_text("Model", exact=True)
        model.wait_for(timeout=60_000)
        page.locator("[data-testid='stSidebarNav']").get_by_text("Data health").click()
        page.get_by_text("This page does not use the filters", exact=False).wait_for(timeout=60_000)
        _settled(page)
        assert not model.is_visible() and page.get_by_role("button", name="Clear filters").count() == 0
        page.locator("[data-testid='stSidebarNav']").get_by_text("Errors", exact=True).click()
        _list_shown(page)
        assert model.is_visible() and "model=model-a" in page.url
        assert page.get_by_role("button", name="Model: model-a").count() == 1  # the filter bar shows it again
        # the page's listener was drawn anew on the way (the sidebar changed above it): links still open
        # in the same tab, and Back still returns
        _click_link_cell(page, page.locator('[data-testid="stDataFrame"]:visible').first, 0, 60)
        page.get_by_text("Triage:", exact=False).wait_for(timeout=60_000)
        assert len(page.context.pages) == 1 and "error=" in page.url
        page.go_back()
        page.get_by_text("errors: failures with the same key line", exact=False).wait_for(timeout=60_000)
        assert "error=" not in page.url
