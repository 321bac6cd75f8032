"""The other pages' results, worked out in the background once a page is drawn (dashboard.warm_up)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import data, warm_up
from loaders.analysis.filters import AttemptFilter
from loaders.demo.trees import generate_tree
from tests.conftest import AS_OF

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
WARMED_PAGES = [
    "app_pages/errors.py",
    "app_pages/unfixed.py",
    "app_pages/sessions.py",
    "app_pages/recommendations.py",
    "app_pages/health.py",
]


@pytest.fixture
def fresh_tree(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree no other test has worked results out for, opened by the dashboard."""
    root = tmp_path / "logs"
    generate_tree(root, sessions=40, days=10, seed=5, end=AS_OF)
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(root))
    return root


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warm-ups enabled for this test only, as dashboard.serve enables them, none asked for yet."""
    monkeypatch.setattr(warm_up, "_enabled", threading.Event())
    monkeypatch.setattr(warm_up, "_last_key", None)
    warm_up.enable()


def test_the_other_pages_find_their_results_worked_out(fresh_tree, enabled):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    assert warm_up.wait(120)
    after_warm_up = Counter(data.computed)
    assert after_warm_up["loaders.analysis.errors.library_issues"] >= 1
    assert after_warm_up["loaders.analysis.recipes.fix_rules"] >= 1
    for page in WARMED_PAGES:
        at.switch_page(page)
        at.run()
        assert not at.exception, page
        new = Counter(data.computed) - after_warm_up
        assert not new, f"{page} worked out {dict(new)}: dashboard.warm_up.page_defaults no longer matches it"
    at.run()  # a rerun with the same index version warms nothing up again
    assert warm_up.wait(120)
    assert Counter(data.computed) == after_warm_up


def test_no_warm_up_for_a_filtered_run_or_when_not_enabled(fresh_tree, monkeypatch):
    before = Counter(data.computed)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()  # not enabled: `streamlit run` without dashboard.serve
    assert not at.exception and warm_up.wait(120)
    assert data.computed["loaders.analysis.errors.library_issues"] == before["loaders.analysis.errors.library_issues"]
    assert (
        data.computed["loaders.analysis.metrics.summary"] > before["loaders.analysis.metrics.summary"]
    )  # the Overview's own
    monkeypatch.setattr(warm_up, "_enabled", threading.Event())
    warm_up.enable()
    filtered = AppTest.from_file(APP, default_timeout=120)
    filtered.query_params["status"] = "failed"
    filtered.run()
    assert not filtered.exception and warm_up.wait(120)
    assert data.computed["loaders.analysis.errors.library_issues"] == before["loaders.analysis.errors.library_issues"]


def _context(version: int) -> SimpleNamespace:
    """What warm_soon reads of a page context, for index version ``version``."""
    index = SimpleNamespace(root="/logs", session_mode="auto", state_token=f"g:{version}:False")
    return SimpleNamespace(
        index=index, flt=AttemptFilter(), has_data=True, as_of=datetime(2026, 1, 1), triage_version="none"
    )


def test_one_warm_up_at_a_time_then_only_the_latest_version_waiting(enabled, monkeypatch):
    """A writer adding files every second makes a new index version every second: the warm-ups must
    not pile up threads (each would work every page out again)."""
    started, release, warmed = threading.Event(), threading.Event(), []

    def slow_warm(ctx: SimpleNamespace, queries: list) -> None:
        warmed.append(ctx.index.state_token)
        started.set()
        release.wait(10)

    monkeypatch.setattr(warm_up, "warm", slow_warm)
    warm_up.warm_soon(_context(1))
    assert started.wait(10)
    for version in range(2, 10):
        warm_up.warm_soon(_context(version))
    warm_up.warm_soon(_context(9))  # asked twice: warmed once
    assert sum(thread.name == "fixtrail-warm-up" for thread in threading.enumerate()) == 1
    assert not warm_up.wait(0.2)  # still under way
    release.set()
    assert warm_up.wait(10)
    assert warmed == ["g:1:False", "g:9:False"]
    assert not any(thread.name == "fixtrail-warm-up" for thread in threading.enumerate())
