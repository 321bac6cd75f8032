"""Numbers a team can act on (issue 31): n and an interval on every rate, no rate from too few, a change
only when its interval says so, and one window rule on every surface."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.server import create_app
from backend.log_analyzer import LogAnalyzer
from backend.script_logger import ScriptLogger
from loaders.analysis.metrics import window_of
from loaders.analysis.rates import Rate, change_text, rate_change
from loaders.store.index import LogIndex
from tests.conftest import write_record

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "streamlit_app.py")
PAGES = ("overview", "errors", "unfixed", "sessions", "compare", "recommendations", "health")


@pytest.fixture
def default_min_n(monkeypatch: pytest.MonkeyPatch) -> int:
    """The product's own minimum n (the suite's other tests show rates from n = 1)."""
    monkeypatch.delenv("FIXTRAIL_MIN_N")
    return 20


@pytest.fixture
def demo_plus_one(tmp_path: Path) -> Path:
    """The bundled demo tree with one failure logged now: the user's first attempt after a pause."""
    root = tmp_path / "logs"
    shutil.copytree(ROOT / "logs", root, ignore=shutil.ignore_patterns("analysis"))
    ScriptLogger(root).log_failure("print(1/0)", "division by zero", "ZeroDivisionError: division by zero\n", 1)
    return root


@pytest.fixture
def sparse_tree(tmp_path: Path) -> Path:
    """A tree of the original's shape with few attempts: three sessions over two weeks, the last today."""
    root = tmp_path / "sparse"
    now = datetime.now().replace(microsecond=0)
    write_record(root, log_id="a1", session_id="A", when=now - timedelta(days=12))
    write_record(root, log_id="a2", session_id="A", status="success", when=now - timedelta(days=12, minutes=-5))
    write_record(root, log_id="b1", session_id="B", status="success", when=now - timedelta(days=3))
    write_record(root, log_id="c1", session_id="C", when=now - timedelta(hours=1))
    return root


def test_a_rate_below_the_minimum_is_not_a_number(default_min_n):
    assert Rate(0, 1).short() == "-" and Rate(0, 1).basis() == "too few attempts (n = 1)"
    assert Rate(13, 20).short() == "65.0%" and Rate(13, 20).basis() == "n = 20, 95% CI 43.3-81.9"
    assert Rate(1, 1, "sessions").text() == "- (too few sessions (n = 1))"


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        (Rate(60, 100), Rate(59, 100), r"^no clear change \(-1\.0 pts, 95% CI -\d+\.\d to \+\d+\.\d\)$"),
        (Rate(20, 100), Rate(80, 100), r"^\+60\.0 pts vs previous 7 days \(95% CI \+\d+\.\d to \+\d+\.\d\)$"),
        (Rate(1, 2), Rate(0, 1), r"^too few to compare \(n = 2 and 1\)$"),
        (Rate(0, 0), Rate(3, 30), r"^too few attempts to compare$"),
    ],
)
def test_a_change_is_called_a_change_only_when_its_interval_excludes_zero(default_min_n, before, now, expected):
    diff = rate_change(before, now)
    assert re.match(expected, change_text(diff)), change_text(diff)
    assert diff.significant == bool(re.match(r"^[+-]\d", change_text(diff)))
    if diff.significant:
        assert diff.ci_low > 0 or diff.ci_high < 0


def _tiles(at: AppTest) -> list:
    return list(at.metric)


def _check_every_tile(at: AppTest, min_n: int) -> None:
    """No tile shows a rate from fewer than min_n without saying so; every change drawn is significant."""
    assert not at.exception, [e.message for e in at.exception]
    for tile in _tiles(at):
        delta = tile.proto.delta
        if "%" in tile.value:
            sizes = re.findall(r"(?:n = |and )([\d,]+)", delta + " " + (tile.help or ""))
            assert sizes, (tile.label, tile.value, delta, tile.help)
            assert all(int(size.replace(",", "")) >= min_n for size in sizes), (tile.label, tile.value, delta)
        if re.match(r"^[+-][\d.]+ pts", delta):  # a rate change drawn as a change (arrow and colour)
            low, high = (float(x) for x in re.findall(r"CI ([+-][\d.]+) to ([+-][\d.]+)", delta)[0])
            assert low > 0 or high < 0, (tile.label, delta)


@pytest.mark.parametrize("tree", ["demo_plus_one", "sparse_tree"])
def test_every_overview_tile_says_what_it_rests_on(request, tree, cache_dir, monkeypatch, default_min_n):
    root = request.getfixturevalue(tree)
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    _check_every_tile(at, default_min_n)
    shown = {tile.label: (tile.value, tile.proto.delta) for tile in _tiles(at)}
    if tree == "sparse_tree":
        assert shown["Success rate (7 days)"] == ("-", "too few attempts (n = 2)")
        assert shown["Overall success rate"] == ("-", "too few attempts (n = 4)")
    else:  # one new attempt: the window moves to now, and one failure is not "0.0%, down 56.7 pts"
        assert shown["Success rate (7 days)"] == ("-", "too few attempts (n = 1)")
        assert not re.search(r"\d pts", shown["Success rate (7 days)"][1])


def test_a_failures_only_filter_says_why_rates_are_not_shown(demo_tree, cache_dir, monkeypatch):
    root, _ = demo_tree
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["category"] = "import_error"
    at.run()
    assert not at.exception
    rates = [tile for tile in _tiles(at) if "rate" in tile.label.lower() or "First-try" in tile.label]
    assert rates and all(tile.value == "-" and "failures only" in tile.proto.delta for tile in rates)


def _cli_json(root: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "analyze_logs.py", "--logs-dir", str(root), "--json", "summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_surface_uses_one_window(demo_tree, cache_dir, monkeypatch):
    """A tree whose newest record is weeks old: CLI, API, LogAnalyzer and dashboard show its last week."""
    root, _ = demo_tree
    cli = _cli_json(root)
    assert cli["window_rule"] == "the newest record" and cli["recent_attempts_7d"] > 0
    api = TestClient(create_app(root, cache_dir, extra_hosts=("testserver",))).get("/api/logs/summary").json()
    assert api["summary"]["window_end"] == cli["window_end"] and api["summary"]["window_rule"] == cli["window_rule"]
    analysis = LogAnalyzer(str(root)).analyze_all()
    assert (analysis["window_end"], analysis["window_rule"]) == (cli["window_end"], cli["window_rule"])
    client = TestClient(create_app(root, cache_dir, extra_hosts=("testserver",)))
    from_api = client.get("/api/logs/analysis").json()["analysis"]
    assert (from_api["window_end"], from_api["window_rule"]) == (cli["window_end"], "the newest record")
    for key in ("recent_success_rate_7d", "recent_attempts_7d"):
        assert api["summary"][key] == cli[key] == analysis["summary"][key]
    assert cli["rates"]["recent_success_rate_7d"]["n"] == cli["recent_attempts_7d"]
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    window_tile = next(tile for tile in _tiles(at) if tile.label.startswith("Attempts (7 days to"))
    assert window_tile.value == f"{cli['recent_attempts_7d']:,}"
    assert any("newest record" in caption.value for caption in at.caption)


def test_a_tree_with_recent_attempts_ends_the_window_now(sparse_tree, cache_dir):
    window = window_of(LogIndex(sparse_tree, cache_dir))
    assert window.rule == "now" and abs((window.end - datetime.now()).total_seconds()) < 60
    cli = _cli_json(sparse_tree)
    assert cli["window_rule"] == "now" and cli["recent_attempts_7d"] == 2


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("tree", ["demo_plus_one", "sparse_tree"])
def test_no_tile_of_any_page_shows_a_rate_from_too_few(request, tree, page, cache_dir, monkeypatch, default_min_n):
    """Issue 31's done-means: every tile of every page, on the demo tree plus one attempt and a sparse tree."""
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(request.getfixturevalue(tree)))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    _check_every_tile(at, default_min_n)


def test_table_rates_from_too_few_are_left_blank(sparse_tree, cache_dir, monkeypatch, default_min_n):
    """A table's fix rate from fewer than the minimum n is blank beside its count, as a tile's is "-"."""
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(sparse_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/errors.py")
    at.run()
    assert not at.exception
    rated = [frame.value for frame in at.dataframe if {"fix_rate", "count"} <= set(frame.value.columns)]
    assert rated and all(frame["fix_rate"].isna().all() and (frame["count"] > 0).all() for frame in rated)


def test_a_fixed_share_shows_its_n_or_the_counts_below_the_minimum(monkeypatch):
    from loaders.analysis.rates import fixed_text

    monkeypatch.setenv("FIXTRAIL_MIN_N", "20")
    assert fixed_text(2, 3) == "2 of 3 fixed"
    assert fixed_text(21, 42) == "50% fixed (n = 42)"


def test_common_errors_carry_their_fix_rates_basis(small_tree, index_of, monkeypatch):
    from loaders.outputs.sections import common_errors

    monkeypatch.setenv("FIXTRAIL_MIN_N", "20")
    top = common_errors(index_of(small_tree))
    assert top
    for error in top:
        basis = error["fix_rate_basis"]
        assert basis["n"] == error["count"] and basis["successes"] == error["fixed_count"]
        assert basis["ci_low"] <= error["fix_rate"] <= basis["ci_high"]
        assert basis["enough"] is False  # a handful of failures
