"""Overview: deltas only where there is something to compare, empty tables that say why, charts
with legends and readable axes, Material icons instead of emoji."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts, url_filters
from tests.conftest import AS_OF, as_shown, write_record

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
DASHBOARD = Path(APP).parent


def _overview(logs: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metric(at: AppTest, prefix: str):
    return next(m for m in at.metric if m.label.startswith(prefix))


def test_no_delta_without_a_previous_window(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    write_record(logs, log_id="f", session_id="A", when=AS_OF - timedelta(hours=3))
    write_record(logs, log_id="s", session_id="A", status="success", when=AS_OF - timedelta(hours=2))
    at = _overview(logs, monkeypatch)
    assert _metric(at, "Success rate (").value == "50.0%"
    # nothing in the 7 days before: no "+50.0 pts", what the rate rests on instead
    assert _metric(at, "Success rate (").proto.delta.startswith("n = 2, 95% CI")
    assert _metric(at, "Sessions").proto.delta == ""  # no file skipped
    assert _metric(at, "Total failures").proto.delta == "+1 in 7 days"
    assert _metric(at, "Attempts (").proto.delta == "+2 vs previous 7 days"


def test_deltas_compare_two_windows_with_data(small_tree, cache_dir, monkeypatch):
    at = _overview(small_tree, monkeypatch)
    # 4 attempts (2 successes) in the window, 3 (1 success) in the 7 days before: no clear change
    assert _metric(at, "Success rate (").proto.delta.startswith("no clear change (+16.7 pts, 95% CI -")


def test_empty_tables_say_what_did_not_happen(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    write_record(logs, log_id="s", status="success")
    at = _overview(logs, monkeypatch)
    shown = [i.value for i in at.info]
    assert "No failure in this range." in shown and "No new error in the 7 days." in shown
    assert "Nothing matches the filters." not in shown
    at.sidebar.multiselect(key=url_filters.MODEL).set_value(["model-a"]).run()
    assert "Nothing matches the filters." in [i.value for i in at.info]


def test_what_changed_row_opens_the_error(cv2_fix_tree, cache_dir, monkeypatch):
    at = _overview(cv2_fix_tree, monkeypatch)
    new = as_shown(at.dataframe(key="overview_new").value)
    at.session_state["overview_new"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.query_params["error"] in (new["fingerprint"].iloc[0], [new["fingerprint"].iloc[0]])
    assert {m.label: m.value for m in at.metric}["Occurrences"] == "3"


def _encodings(spec: dict) -> list[dict]:
    layers = spec.get("layer", [spec])
    return [layer["encoding"] for layer in layers]


def test_success_rate_chart_has_a_legend_for_both_marks():
    daily = pd.DataFrame(
        {
            "day": pd.date_range("2025-12-01", periods=3),
            "success_rate": [50.0, 100.0, 0.0],
            "rolling_success_rate_7d": [50.0, 75.0, 50.0],
            "attempts": [2, 1, 1],
            "attempts_7d": [2, 3, 4],
        }
    )
    spec = charts.success_rate_chart(daily).to_dict()
    colors = [encoding["color"] for encoding in _encodings(spec) if "color" in encoding]
    assert len(colors) == 2 and all(c["scale"]["domain"] == ["Daily rate", "Rolling 7-day rate"] for c in colors)
    band = [encoding for encoding in _encodings(spec) if "y2" in encoding]  # the 95 % band: no legend entry
    assert len(band) == 1
    x = _encodings(spec)[0]["x"]
    assert x["timeUnit"] == "yearmonthdate" and x["axis"]["tickCount"] == {"interval": "day", "step": 1}
    assert [len(values) for values in spec["datasets"].values()] == [3]
    assert all("data" not in layer for layer in spec["layer"])  # both marks read the chart's one dataset


def test_counts_have_integer_ticks_and_many_days_fewer_ticks():
    daily = pd.DataFrame(
        {"day": pd.date_range("2025-10-01", periods=60), "failures": range(60), "successes": range(60)}
    )
    encoding = charts.attempts_chart(daily).to_dict()["encoding"]
    assert encoding["y"]["axis"]["tickMinStep"] == 1 and encoding["y"]["axis"]["format"] == "d"
    assert encoding["x"]["axis"]["tickCount"] == {"interval": "day", "step": 5}


def test_categories_beyond_eight_become_other():
    daily = pd.DataFrame(
        {"day": pd.Timestamp("2025-12-01"), "category": [f"c{n}" for n in range(11)], "count": range(11, 0, -1)}
    )
    frame, order = charts.top_categories(daily)
    assert order == ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "other"]
    assert frame.set_index("category").loc["other", "count"] == 3 + 2 + 1
    scale = charts.categories_over_time_chart(daily).to_dict()["encoding"]["color"]["scale"]
    assert len(set(scale["range"])) == 9 and scale["range"][-1] == charts.OTHER_COLOR


EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2705\u274c]")


def test_dashboard_uses_material_icons_not_emoji():
    offenders = {p.name: EMOJI.findall(p.read_text()) for p in DASHBOARD.rglob("*.py")}
    assert {name: found for name, found in offenders.items() if found} == {}


def _chart_specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("vega_lite_chart")]


def test_only_the_open_first_try_tab_draws_its_chart(small_tree, cache_dir, monkeypatch):
    at = _overview(small_tree, monkeypatch)
    specs = _chart_specs(at)
    assert len(specs) == 3  # success rate, first try (all models), attempts per day
    assert sum("Daily first-try rate" in spec for spec in specs) == 1
    assert not any("ai_model" in spec for spec in specs)
    at.session_state["overview_first_try_view"] = "Per model"
    at.run()
    assert not at.exception
    specs = _chart_specs(at)
    assert len(specs) == 3 and not any("Daily first-try rate" in spec for spec in specs)
    assert sum("7-day first-try success" in spec and "ai_model" in spec for spec in specs) == 1
