"""Every dashboard page through Streamlit's AppTest, on trees with known numbers."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from loaders.analysis.attempts import unfixed_failures
from loaders.outputs.exports import neutralise_cell, safe_csv
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, as_shown, write_record, write_session_file

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
PAGES = ["overview", "errors", "unfixed", "sessions", "recommendations", "health"]


@pytest.fixture
def app(small_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _open(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(app, page):
    _open(app, page)
    assert app.title


def test_overview_shows_the_seven_numbers_and_the_window(app):
    metrics = _metrics(app)
    assert metrics["Total failures"] == "4" and metrics["Total successes"] == "3"
    assert metrics["Unfixed failures"] == "1" and metrics["Fixed failures"] == "3"
    assert metrics["Overall success rate"] == "42.9%"
    assert metrics["Success rate (7 days to 2025-12-20)"] == "50.0%"
    assert metrics["Attempts (7 days to 2025-12-20)"] == "4"
    assert any("newest record" in c.value for c in app.caption)


def test_model_filter_changes_the_numbers(app):
    app.sidebar.multiselect(key="model").set_value(["model-b"]).run()
    metrics = _metrics(app)
    assert (metrics["Total failures"], metrics["Total successes"]) == ("0", "1")


def test_text_filter_finds_the_cv2_failure(app):
    app.sidebar.text_input(key="q").input("cv2").run()
    assert _metrics(app)["Total failures"] == "1"


def test_selecting_an_unfixed_row_opens_its_session(app):
    _open(app, "unfixed")
    assert "unfixed_table" not in [d.key for d in app.dataframe]  # a closed tab is not drawn
    app.session_state["unfixed_view"] = "Every failure"  # what a click on the tab sets
    app.run()
    table = app.dataframe(key="unfixed_table")
    assert list(as_shown(table.value)["log_id"]) == ["s2-a1"]
    app.session_state["unfixed_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    assert app.query_params["session"] == ["S2"] or app.query_params["session"] == "S2"
    assert [t.value for t in app.title] == ["Session timeline"]
    assert any("import cv2" in c.value for c in app.code)


def test_every_unfixed_failure_comes_a_page_at_a_time(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    for n in range(7):  # seven unfixed failures, an hour apart, in sessions of their own
        write_record(logs, log_id=f"u{n}", session_id=f"U{n}", when=AS_OF - timedelta(hours=n + 1))
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    monkeypatch.setattr("dashboard.widgets.TABLE_PAGE_SIZE", 3)
    at = _open(AppTest.from_file(APP, default_timeout=60), "unfixed")
    assert (_metrics(at)["Unfixed failures"], _metrics(at)["Sessions affected"]) == ("7", "7")
    at.session_state["unfixed_view"] = "Every failure"
    at.run()
    assert list(as_shown(at.dataframe(key="unfixed_table").value)["log_id"]) == ["u0", "u1", "u2"]  # newest first
    assert at.number_input(key="unfixed_page").label == "Page (of 3)"
    at.number_input(key="unfixed_page").set_value(3).run()
    assert list(as_shown(at.dataframe(key="unfixed_table").value)["log_id"]) == ["u6"]
    assert any(c.value == "Unfixed failures 7 to 7 of 7, newest first." for c in at.caption)
    # the downloads hold every unfixed failure (unfixed_failures without a limit), made when clicked
    assert {b.proto.label for b in at.get("download_button")} >= {"Download CSV", "Download JSON"}
    with LogIndex(logs, cache_dir) as index:
        assert list(unfixed_failures(index)["log_id"]) == [f"u{n}" for n in range(7)]
        assert list(unfixed_failures(index, limit=3, offset=6)["log_id"]) == ["u6"]


def test_session_url_opens_the_timeline_directly(small_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = "S1"
    _open(at, "sessions")
    assert _metrics(at)["Attempts"] == "3" and _metrics(at)["Status"] == "resolved"
    assert len(at.expander) == 3


def test_sessions_list_counts(app):
    _open(app, "sessions")
    metrics = _metrics(app)
    assert (metrics["Sessions"], metrics["Resolved"], metrics["Unresolved"]) == ("4", "3", "1")


def test_health_lists_skipped_files_with_reasons(small_tree, cache_dir, monkeypatch):
    (small_tree / "failures" / "2025-12-19" / "broken.json").write_text("{not json")
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    _open(at, "health")
    assert _metrics(at)["Skipped files"] == "1"
    skipped = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert list(skipped["path"].map(lambda p: Path(p).name)) == ["broken.json"]
    assert skipped["reason"].iloc[0].startswith("invalid JSON")


@pytest.mark.parametrize(
    ("make_dir", "element", "message"),
    [(False, "error", "log directory not found"), (True, "info", "No attempt records")],
)
def test_missing_or_empty_log_directory_is_a_message_not_a_traceback(
    tmp_path, cache_dir, monkeypatch, make_dir, element, message
):
    logs = tmp_path / "logs"
    if make_dir:
        logs.mkdir()
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert message in getattr(at, element)[0].value


def test_log_content_is_shown_as_text(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))"
    write_record(
        logs,
        log_id="evil",
        session_id="E",
        user_prompt=hostile,
        error_message=hostile,
        stderr=f"ValueError: {hostile}\n",
    )
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = "E"
    _open(at, "sessions")
    assert any(hostile in c.value for c in at.code)
    assert not any("<script>" in m.value for m in at.markdown)


def test_no_dashboard_code_allows_html():
    root = Path(APP).parent
    offenders = [p for p in root.rglob("*.py") if re.search(r"unsafe_allow_html\s*=\s*True", p.read_text())]
    assert offenders == []


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (42, 42),
        (-3.5, -3.5),
        ("-1", "-1"),
        ("+3.5", "+3.5"),
        ("|cmd", "'|cmd"),
        ("%0A", "'%0A"),
        ("\0x", "'\0x"),
        ("harmless\r=1+2", "harmless\r'=1+2"),
        ("two\nlines\n@x", "two\nlines\n'@x"),
        ("kept\r\nline", "kept\r\nline"),
    ],
)
def test_csv_cells_are_neutralised(cell, expected):
    assert neutralise_cell(cell) == expected


def test_csv_download_keeps_numbers_and_neutralises_text():
    import pandas as pd

    csv = safe_csv(pd.DataFrame({"error": ['=HYPERLINK("x")', "ok"], "count": [-1, 2]})).decode()
    assert csv.splitlines() == ['"error","count"', '"\'=HYPERLINK(""x"")",-1', '"ok",2']


def test_csv_line_a_reader_splits_off_is_neutralised_too():
    import csv as csv_module
    import io

    import pandas as pd

    text = safe_csv(pd.DataFrame({"error": ["harmless\r=1+2", "-1"], "n": [1, -1]})).decode()
    # A reader that splits on a bare \r (as spreadsheets do) sees a line of its own: it must not be a formula.
    assert not any(line.startswith(("=", "+", "@")) for line in re.split(r"\r\n|\r|\n", text))
    rows = list(csv_module.reader(io.StringIO(text, newline="")))
    assert rows == [["error", "n"], ["harmless\r'=1+2", "1"], ["-1", "-1"]]


@pytest.fixture
def learning_app(cv2_fix_tree, cache_dir, monkeypatch):
    logs = cv2_fix_tree
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    return AppTest.from_file(APP, default_timeout=60)


def test_recommendations_show_fix_recipes_and_their_advice(learning_app):
    _open(learning_app, "recommendations")
    rules = as_shown(learning_app.dataframe(key="recommendations_rules").value)
    assert list(rules["change"]) == ["cv2 -> skimage"] and list(rules["fixes"]) == [3]
    learning_app.session_state["recommendations_view"] = "AI context"  # what a click on the tab sets
    learning_app.run()
    assert not learning_app.exception
    assert any("Don't import cv2: it is not installed; use skimage instead" in c.value for c in learning_app.code)


def test_timeline_names_what_changed(learning_app):
    learning_app.query_params["session"] = "CV0"
    _open(learning_app, "sessions")
    from dashboard.markdown import escape_markdown

    assert any(escape_markdown("cv2 -> skimage") in c.value for c in learning_app.caption)


def test_overview_shows_what_changed_this_week(learning_app):
    learning_app.run()
    assert not learning_app.exception
    new = as_shown(learning_app.dataframe(key="overview_new").value)
    assert list(new["example_error"]) == ["ModuleNotFoundError: No module named 'cv2'"]


def test_session_mode_switch_uses_inferred_sessions(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    for n in range(25):  # an unlinked tree: every attempt alone in a session of its own id
        when = AS_OF - timedelta(days=1, hours=n)
        write_record(logs, log_id=f"f{n}", session_id=f"f{n}", when=when, user_prompt=f"prompt {n}")
        write_record(
            logs,
            log_id=f"s{n}",
            session_id=f"s{n}",
            status="success",
            when=when + timedelta(minutes=3),
            user_prompt=f"prompt {n}",
        )
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert _metrics(at)["Sessions"] == "25" and _metrics(at)["Fixed failures"] == "25"
    assert any("inferred" in c.value for c in at.caption)
    at.sidebar.segmented_control(key="sessions").set_value("linked").run()
    assert _metrics(at)["Sessions"] == "50" and _metrics(at)["Fixed failures"] == "0"


@pytest.mark.parametrize("reload_by", ["button", "new_run"])
def test_new_logs_show_after_reload_with_a_relative_logs_dir(small_tree, cache_dir, monkeypatch, reload_by):
    # ``make run`` passes ``--logs-dir logs``: a path relative to the working directory.
    monkeypatch.chdir(small_tree.parent)
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", small_tree.name)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert _metrics(at)["Total successes"] == "3"
    write_record(small_tree, log_id="late-1", session_id="S2", status="success", when=AS_OF)
    if reload_by == "button":
        next(b for b in at.sidebar.button if b.label == "Reload logs").click().run()
    else:
        at.run()  # a rerun after a first load: the page must not keep showing a stale index
        next(b for b in at.sidebar.button if b.label == "Reload logs").click().run()
    assert not at.exception
    metrics = _metrics(at)
    assert (metrics["Total successes"], metrics["Unfixed failures"]) == ("4", "0")


MARKDOWN_PAYLOADS = {
    "image": "![x](http://127.0.0.1:9/x.png)",
    "link": "[phish](http://127.0.0.1:9/login)",
    "formula": "$$\\frac{a}{b}$$",
}


def test_log_values_never_render_as_markdown(tmp_path, cache_dir, monkeypatch):
    from dashboard.markdown import escape_markdown

    logs = tmp_path / "logs"
    image, link, formula = MARKDOWN_PAYLOADS.values()
    path = write_record(logs, log_id="plain-id", session_id="MD", when=AS_OF)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "log_id": image, "status": link}))
    write_session_file(logs, "MD", [image, formula])
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = "MD"
    _open(at, "sessions")
    shown = [e.label for e in at.expander] + [w.value for w in at.warning]
    assert any(escape_markdown(image) in text for text in shown)
    assert any(escape_markdown(link) in text for text in shown)
    assert any(escape_markdown(formula) in text for text in shown)
    assert not any(payload in text for text in shown for payload in MARKDOWN_PAYLOADS.values())
    # The session id from the URL, echoed back when nothing matches.
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = link
    _open(at, "sessions")
    assert [e.value for e in at.error] == [f"Session not found: {escape_markdown(link)}"]


def test_a_session_opens_at_the_attempt_the_url_names(small_tree, cache_dir, monkeypatch):
    """Opened from an occurrence (?attempt=), the timeline opens that attempt; failures' headers say what failed."""
    from dashboard.markdown import escape_markdown

    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = "S1"
    at.query_params["attempt"] = "s1-a1"
    _open(at, "sessions")
    assert [e.proto.expanded for e in at.expander] == [True, False, False]
    assert escape_markdown("NameError: name 'x' is not defined") in at.expander[0].label
    assert escape_markdown("s1-a3") in at.expander[2].label  # a success's header keeps its id


def test_quick_date_ranges_set_the_filter(app):
    app.button(key="quick_range_7 days").click().run()
    assert not app.exception
    start, end = app.query_params["start"], app.query_params["end"]
    assert (date.fromisoformat(end) - date.fromisoformat(start)).days == 6
    app.button(key="quick_range_All").click().run()
    assert "start" not in app.query_params or app.query_params["start"] in ("", [""])
