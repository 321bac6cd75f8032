"""The Compare page: two cohorts side by side with real numbers, the verdict in words, a marker's
before/after one click away; and the Overview's first-try tiles and eval set download."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts
from loaders.annotations.markers import add_marker
from tests.conftest import AS_OF, write_sessions

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
CHANGE = AS_OF - timedelta(days=4)


@pytest.fixture
def compare_tree(tmp_path: Path) -> Path:
    """Before the "system_context v12" marker: 60 sessions of model-old, 24 at first try (40 %);
    after it: 60 sessions of model-new, 54 at first try (90 %)."""
    logs = tmp_path / "logs"
    write_sessions(logs, "model-old", 60, 24, CHANGE - timedelta(hours=61), spacing=timedelta(hours=1))
    write_sessions(logs, "model-new", 60, 54, CHANGE + timedelta(minutes=5), spacing=timedelta(hours=1))
    return logs


def _compare_page(logs: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_two_models_compared_in_numbers_and_words(compare_tree, cache_dir, monkeypatch):
    at = _compare_page(compare_tree, monkeypatch)
    # the page starts empty, with a short guide, not "everything against everything"
    assert (at.text_input(key="compare_a").value, at.text_input(key="compare_b").value) == ("", "")
    assert any(i.value.startswith("Pick two cohorts") for i in at.info) and not at.dataframe
    # a suggestion is one click: the models side by side (no marker yet)
    at.button(key="compare_quick_0").click().run()
    assert (at.text_input(key="compare_a").value, at.text_input(key="compare_b").value) == (
        "model=model-new",
        "model=model-old",
    )
    assert (at.query_params["a"], at.query_params["b"]) == ("model=model-new", "model=model-old")
    # model-new against model-old: a decline, said as a warning
    assert any(w.value.startswith("First\\-try success fell from 90 % to 40 %") for w in at.warning)
    assert any(w.value.endswith("a real decline") for w in at.warning) and not at.success
    at.text_input(key="compare_a").set_value("model=model-old")
    at.text_input(key="compare_b").set_value("model=model-new").run()
    assert not at.exception
    tile = next(m for m in at.metric if m.label.startswith("First-try success"))
    assert tile.value == "40% → 90%" and tile.proto.delta.startswith("+50.0 pts vs A (95% CI +")
    said = [s.value for s in at.success]
    assert any(
        text.startswith("First\\-try success rose from 40 % to 90 % \\(\\+50 points, 95 % interval")
        and text.endswith("a real improvement")
        for text in said
    ), said
    metrics = at.dataframe[0].value.set_index("metric")
    assert metrics.loc["First-try success", ["a", "b", "n_a", "n_b"]].tolist() == [40.0, 90.0, 60, 60]
    assert bool(metrics.loc["First-try success", "significant"]) is True
    assert metrics.loc["Success rate", "n_a"] == 96 and metrics.loc["Success rate", "n_b"] == 66


def test_a_cohort_against_itself_is_noise(compare_tree, cache_dir, monkeypatch):
    at = _compare_page(compare_tree, monkeypatch)
    at.text_input(key="compare_a").set_value("model=model-old")
    at.text_input(key="compare_b").set_value("model=model-old").run()
    assert not at.success
    assert any("not distinguishable from noise" in i.value for i in at.info)


def test_before_and_after_a_marker_is_one_click(compare_tree, cache_dir, monkeypatch):
    add_marker(compare_tree, "system_context v12", CHANGE)
    at = _compare_page(compare_tree, monkeypatch)
    at.text_input(key="compare_a").set_value("model=model-new").run()
    at.button(key="compare_quick_0").click().run()  # the newest marker's before/after comes first
    assert (at.text_input(key="compare_a").value, at.text_input(key="compare_b").value) == (
        "before=system_context v12",
        "after=system_context v12",
    )
    metrics = at.dataframe[0].value.set_index("metric")
    assert metrics.loc["First-try success", ["a", "b"]].tolist() == [40.0, 90.0]


def test_a_compare_url_opens_the_same_comparison(compare_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(compare_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["a"], at.query_params["b"] = "model=model-old", "model=model-new"
    at.switch_page("app_pages/compare.py").run()
    assert (at.text_input(key="compare_a").value, at.text_input(key="compare_b").value) == (
        "model=model-old",
        "model=model-new",
    )
    metrics = at.dataframe[0].value.set_index("metric")
    assert metrics.loc["First-try success", ["a", "b"]].tolist() == [40.0, 90.0]


def test_a_cohort_built_with_the_pickers(compare_tree, cache_dir, monkeypatch):
    add_marker(compare_tree, "system_context v12", CHANGE)
    at = _compare_page(compare_tree, monkeypatch)
    at.selectbox(key="compare_a_marker").set_value("system_context v12")
    at.radio(key="compare_a_side").set_value("before").run()
    at.button(key="compare_a_use").click().run()
    assert at.text_input(key="compare_a").value == "before=system_context v12"
    at.selectbox(key="compare_b_model").set_value("model-new").run()
    at.button(key="compare_b_use").click().run()
    assert at.text_input(key="compare_b").value == "model=model-new"
    assert at.query_params["a"] == "before=system_context v12"
    assert at.dataframe[0].value.set_index("metric").loc["First-try success", ["a", "b"]].tolist() == [40.0, 90.0]


def test_a_bad_cohort_says_why(compare_tree, cache_dir, monkeypatch):
    at = _compare_page(compare_tree, monkeypatch)
    at.text_input(key="compare_a").set_value("model=model-old")
    at.text_input(key="compare_b").set_value("after=v99").run()
    assert not at.exception
    assert "no marker called" in at.error[0].value


def test_overview_shows_first_try(compare_tree, cache_dir, monkeypatch):
    add_marker(compare_tree, "system_context v12", CHANGE)
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(compare_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    tile = next(m for m in at.metric if m.label == "First-try success")
    assert tile.value == "65.0%"  # 78 of 120 sessions
    attempts = next(m for m in at.metric if m.label == "Mean attempts to success")
    assert attempts.value == f"{(78 + 2 * 42) / 120:.2f}"


def test_markers_are_labelled_rules_on_the_daily_charts():
    daily = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-11-14", "2026-11-15", "2026-11-16"]),
            "attempts": [4, 4, 4],
            "success_rate": [50.0, 75.0, 100.0],
            "rolling_success_rate_7d": [50.0, 62.5, 75.0],
            "attempts_7d": [4, 8, 12],
        }
    )
    markers = pd.DataFrame(
        {"label": ["system_context v12", "too early"], "at": pd.to_datetime(["2026-11-15 09:00", "2026-10-01 00:00"])}
    )
    spec = charts.success_rate_chart(daily, markers).to_dict()
    marks = [layer.get("mark", {}) for layer in spec["layer"][1:]]
    assert [mark["type"] for mark in marks] == ["rule", "text"]
    shown = [row["label"] for name, rows in spec["datasets"].items() for row in rows if "label" in row]
    assert shown == ["system_context v12"]  # a marker outside the chart's days is left out
    assert "layer" not in charts.success_rate_chart(daily, None).to_dict()["layer"][0]
