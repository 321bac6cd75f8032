"""The session timeline: waterfall, gaps and run times, which attempts are open, links, the download."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.formatting import duration_text, gap_text
from loaders.analysis.sessions import session_detail
from loaders.analysis.timeline import attempt_waterfall, session_export
from loaders.outputs.exports import safe_csv
from tests.conftest import AS_OF, as_shown, write_record

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.4, "0.4 s"),
        (1.5, "1.5 s"),
        (46, "46 s"),
        (60, "1 min"),
        (522, "8 min 42 s"),
        (3600, "1 h"),
        (7230, "2 h"),
        (11_100, "3 h 5 min"),
        (187_200, "2 d 4 h"),
        (None, ""),
        (float("nan"), ""),
        (-3, ""),
    ],
)
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(46, "+46 s"), (522, "+8 min 42 s"), (None, ""), (float("nan"), "")])
def test_gap_text(seconds, text):
    assert gap_text(seconds) == text


def _timeline(session_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = session_id
    at.switch_page("app_pages/sessions.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def small_logs(small_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    return small_tree


def test_waterfall_places_each_attempt(small_tree, index_of):
    waterfall = attempt_waterfall(session_detail(index_of(small_tree), "S1"))
    assert list(waterfall["attempt_no"]) == [1, 2, 3]
    assert list(waterfall["offset_seconds"]) == [0, 300, 540]
    assert waterfall["gap_seconds"].isna().iloc[0] and list(waterfall["gap_seconds"].iloc[1:]) == [300, 240]
    assert waterfall["run_seconds"].isna().iloc[0] and waterfall["run_seconds"].iloc[2] == 1.5


def test_timeline_shows_gaps_run_times_and_duration(small_logs):
    at = _timeline("S1")
    assert {m.label: m.value for m in at.metric}["Duration"] == "9 min"
    labels = [e.label for e in at.expander]
    # a failure's header names its error, then its id
    assert labels[0].startswith("#1 · failed · 2025-12-11 12:00:00 · NameError\\: name")
    assert labels[0].endswith("s1\\-a1")
    assert "· +5 min ·" in labels[1]
    assert "· +4 min · ran 1.5 s ·" in labels[2] and labels[2].startswith("#3 · success")
    assert [e.proto.icon for e in at.expander] == [":material/error:"] * 2 + [":material/check_circle:"]


def test_only_the_last_failure_and_the_final_success_are_open(small_logs):
    at = _timeline("S1")
    assert [e.proto.expanded for e in at.expander] == [False, True, True]


def test_error_texts_wrap_and_links_open_the_attempts_session(small_logs):
    at = _timeline("S1")
    errors = [c for c in at.code if "NameError" in c.value]
    assert errors and all(c.proto.wrap_lines for c in errors)
    links = {link.proto.label: link.proto.query_string for link in at.get("page_link")}
    assert links["Fixed by: s1\\-a3"] == "session=S1"
    assert links["Previous attempt: s1\\-a1"] == "session=S1"


def test_link_to_an_attempt_in_another_session(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    write_record(logs, log_id="fail-1", session_id="A", when=AS_OF - timedelta(hours=2), fixed_by="win-1")
    write_record(logs, log_id="win-1", session_id="B", status="success", when=AS_OF - timedelta(hours=1))
    write_record(logs, log_id="retry", session_id="C", when=AS_OF, previous_attempt_id="gone")
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    links = {link.proto.label: link.proto.query_string for link in _timeline("A").get("page_link")}
    assert links == {"Fixed by: win\\-1": "session=B"}
    at = _timeline("C")
    assert any("Previous attempt: gone (no record of it in the logs)" in c.value for c in at.caption)


def test_session_download_holds_every_text(small_tree, index_of):
    export = session_export(session_detail(index_of(small_tree), "S1"))
    assert list(export["log_id"]) == ["s1-a1", "s1-a2", "s1-a3"]
    for column in ("code", "stderr", "stdout", "error_message", "user_prompt"):
        assert column in export.columns
    assert export["code"].iloc[0] == "import numpy as np\nresult = np.zeros(3)\n"
    assert "NameError: name 'x' is not defined" in export["stderr"].iloc[0]
    assert export["error_message"].iloc[1].startswith("Script exited with code 1")
    assert export["stderr"].isna().iloc[2] and export["fixed_by"].iloc[0] == "s1-a3"
    back = pd.read_csv(io.BytesIO(safe_csv(export)))
    assert back["code"].iloc[2] == "import numpy as np\nresult = np.zeros(3)\n"
    assert "Traceback (most recent call last)" in back["stderr"].iloc[1]


def test_timeline_offers_the_download(small_logs):
    at = _timeline("S1")
    assert {b.label for b in at.get("download_button")} == {"Download CSV", "Download JSON"}


def test_back_keeps_the_other_url_parameters(small_logs):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = "S1"
    at.query_params["q"] = "name"
    at.switch_page("app_pages/sessions.py")
    at.run()
    next(b for b in at.button if b.label == "All sessions").click().run()
    assert not at.exception
    assert "session" not in at.query_params and at.query_params["q"] in ("name", ["name"])
    assert [t.value for t in at.title] == ["Sessions"]


def test_tables_show_durations_in_words():
    from dashboard.columns import readable

    shown = readable(pd.DataFrame({"duration_seconds": [522.0, float("nan")], "attempts": [3, 1]}))
    assert shown["duration_seconds"].iloc[0] == "8 min 42 s"
    assert shown["duration_seconds"].isna().iloc[1]  # missing: the table's "–" placeholder, not ""
    assert list(shown["attempts"]) == [3, 1]


def test_sessions_list_shows_durations_in_words(small_logs):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/sessions.py")
    at.run()
    shown = as_shown(at.dataframe(key="sessions_table").value).set_index("session_id")
    assert shown.loc["S1", "duration_seconds"] == "9 min"
    assert '"label": "Duration"' in at.dataframe(key="sessions_table").proto.columns


def test_waterfall_chart_has_a_row_per_attempt_with_gap_and_run_time(small_tree, index_of):
    from dashboard import charts

    spec = charts.session_timeline_chart(attempt_waterfall(session_detail(index_of(small_tree), "S1"))).to_dict()
    assert spec["encoding"]["y"]["sort"] == ["#1 failed", "#2 failed · +5 min", "#3 success · +4 min · ran 1.5 s"]
    assert spec["height"] == {"step": 28}  # one band per attempt
    assert spec["encoding"]["color"]["scale"]["domain"] == ["failed", "success"]


def test_the_sessions_list_is_sent_a_page_at_a_time(tmp_path, cache_dir, monkeypatch):
    from loaders.demo.trees import generate_tree

    logs = tmp_path / "logs"
    counts = generate_tree(logs, sessions=620, days=10, seed=3)
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=90)
    at.switch_page("app_pages/sessions.py")
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Sessions"] == f"{counts.sessions:,}"
    first_page = as_shown(at.dataframe(key="sessions_table").value)
    assert len(first_page) == 500
    at.number_input(key="sessions_page").set_value(2).run()
    second_page = as_shown(at.dataframe(key="sessions_table").value)
    assert len(second_page) == counts.sessions - 500
    assert not set(first_page["session_id"]) & set(second_page["session_id"])
