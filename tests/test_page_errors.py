"""The issue view: failures grouped into errors on the Errors and Unfixed pages, one error opened."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import url_filters
from loaders.analysis import errors
from loaders.analysis.filters import AttemptFilter
from tests.conftest import AS_OF, as_shown, write_record

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")
NAME_ERROR = "NameError: name 'x' is not defined"
CV2_ERROR = "ModuleNotFoundError: No module named 'cv2'"
# The small tree's newest record is S3's success a day before AS_OF: the window (and the sparkline) ends there.
WINDOW_END = AS_OF - timedelta(days=1)


def _select(at: AppTest, key: str, row: int = 0) -> AppTest:
    at.session_state[key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _page(logs: Path, page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def small_logs(small_tree, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    return small_tree


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_error_groups_count_sessions_sparkline_and_state(small_tree, index_of):
    groups = errors.error_groups(index_of(small_tree), as_of=WINDOW_END).set_index("error")
    assert list(groups.index) == [NAME_ERROR, CV2_ERROR, "KeyError: 0"]
    name_error = groups.loc[NAME_ERROR]
    assert (name_error["count"], name_error["sessions"], name_error["fix_rate"]) == (2, 1, 100.0)
    assert name_error["state"] == "fixed" and list(name_error["models"]) == ["model-a"]
    assert list(name_error["daily"]) == [0] * 7  # ten days before the window's end: not in the 7 days
    # days 12-14 .. 12-20: the cv2 failure on 12-19, the KeyError on 12-18
    assert list(groups.loc[CV2_ERROR, "daily"]) == [0, 0, 0, 0, 0, 1, 0]
    assert list(groups.loc["KeyError: 0", "daily"]) == [0, 0, 0, 0, 1, 0, 0]
    assert groups.loc[CV2_ERROR, "state"] == "new" and groups.loc[CV2_ERROR, "fix_rate"] == 0.0


def test_error_groups_unfixed_only_count_unfixed_failures(tmp_path, index_of):
    logs = tmp_path / "logs"
    # one error, three failures in three sessions: two fixed by a later success, one not
    for n in range(3):
        write_record(logs, log_id=f"f{n}", session_id=f"S{n}", when=AS_OF - timedelta(days=1, hours=n))
    for n in range(2):
        write_record(logs, log_id=f"ok{n}", session_id=f"S{n}", status="success", when=AS_OF - timedelta(hours=20 - n))
    index = index_of(logs)
    every = errors.error_groups(index, as_of=AS_OF)
    unfixed = errors.error_groups(index, as_of=AS_OF, unfixed_only=True)
    assert (every["count"].iloc[0], every["sessions"].iloc[0]) == (3, 3)
    assert (unfixed["count"].iloc[0], unfixed["sessions"].iloc[0]) == (1, 1)
    # the fix rate is the error's own, whichever failures are counted
    assert every["fix_rate"].iloc[0] == unfixed["fix_rate"].iloc[0] == pytest.approx(200 / 3)
    assert sum(unfixed["daily"].iloc[0]) == 1 and sum(every["daily"].iloc[0]) == 3
    fingerprint = every["fingerprint"].iloc[0]
    assert list(errors.error_occurrences(index, fingerprint)["log_id"]) == ["f0", "f1", "f2"]  # newest first
    assert list(errors.error_occurrences(index, fingerprint, unfixed_only=True)["log_id"]) == ["f2"]
    sessions = errors.error_sessions(index, fingerprint).set_index("session_id")
    assert sessions.loc["S0", "status"] == "resolved" and sessions.loc["S2", "status"] == "unresolved"
    assert sessions.loc["S0", "attempts"] == 2 and sessions.loc["S0", "occurrences"] == 1


def test_error_groups_keep_failures_without_error_text(tmp_path, index_of):
    logs = tmp_path / "logs"
    write_record(logs, log_id="blank", error_message=None, stderr=None, error_type=None)
    groups = errors.error_groups(index_of(logs), as_of=AS_OF)
    assert list(groups["fingerprint"]) == [errors.NO_FINGERPRINT]
    assert groups["error"].iloc[0] == "Unknown error (no error text)"
    assert list(errors.error_occurrences(index_of(logs), errors.NO_FINGERPRINT)["log_id"]) == ["blank"]


def test_errors_page_lists_one_row_per_error(small_logs):
    at = _page(small_logs, "errors")
    groups = as_shown(at.dataframe(key="errors_groups").value)
    assert list(groups.columns[:5]) == ["error", "count", "last_seen", "triage", "assignee"]
    rows = groups.set_index("error")
    assert rows.loc[NAME_ERROR, "count"] == 2 and rows.loc[NAME_ERROR, "state"] == "fixed"
    assert rows.loc[CV2_ERROR, "fix_rate"] == 0.0 and list(rows.loc[CV2_ERROR, "daily"]) == [0, 0, 0, 0, 0, 1, 0]
    # the flat list is in the other tab, drawn once that tab is open
    assert [t.label for t in at.tabs][:2] == ["Grouped by error", "Every failure"]
    assert "errors_flat" not in [d.key for d in at.dataframe]
    at.session_state["errors_view"] = "Every failure"
    at.run()
    assert list(as_shown(at.dataframe(key="errors_flat").value)["log_id"]) == ["s2-a1", "s4-a1", "s1-a2", "s1-a1"]
    assert "errors_groups" not in [d.key for d in at.dataframe]


def test_state_column_explains_every_state(small_logs):
    at = _page(small_logs, "errors")
    config = at.dataframe(key="errors_groups").proto.columns
    for state in ("new", "regressed", "recurring", "fixed", "dormant"):
        assert f"{state}: " in config


def test_selecting_an_error_opens_it_and_puts_it_in_the_url(small_logs):
    at = _page(small_logs, "errors")
    fingerprint = as_shown(at.dataframe(key="errors_groups").value)["fingerprint"].iloc[0]
    _select(at, "errors_groups")
    assert at.query_params["error"] in (fingerprint, [fingerprint])
    metrics = _metrics(at)
    assert (metrics["Occurrences"], metrics["Sessions"], metrics["Fix rate"]) == ("2", "1", "100%")
    assert metrics["This week"] == "fixed"
    assert "First seen 2025-12-11 12:00 · last seen 2025-12-11 12:05" in [c.value for c in at.caption]
    assert at.code[0].value == NAME_ERROR
    occurrences = as_shown(at.dataframe(key="errors_groups_occurrences").value)
    assert list(occurrences["log_id"]) == ["s1-a2", "s1-a1"]  # newest first
    newest = next(e for e in at.expander if e.label.startswith("stderr of the newest occurrence"))
    assert "s1\\-a2" in newest.label and "Traceback (most recent call last)" in newest.code[0].value
    assert list(occurrences["fixed_by"]) == ["s1-a3", "s1-a3"]
    sessions = as_shown(at.dataframe(key="errors_groups_sessions").value)
    assert list(sessions["session_id"]) == ["S1"] and sessions["attempts"].iloc[0] == 3
    # a session's row opens its timeline
    _select(at, "errors_groups_sessions")
    assert [t.value for t in at.title] == ["Session timeline"]
    assert at.query_params["session"] in ("S1", ["S1"])


def test_error_url_opens_the_error_and_back_returns_to_the_list(small_logs, small_tree, index_of):
    fingerprint = (
        errors.error_groups(index_of(small_tree), fingerprint=None).set_index("error").loc[CV2_ERROR, "fingerprint"]
    )
    at = _page(small_logs, "errors", error=fingerprint)
    assert _metrics(at)["Occurrences"] == "1"
    assert list(as_shown(at.dataframe(key="errors_groups_sessions").value)["session_id"]) == ["S2"]
    next(b for b in at.button if b.label == "All errors").click().run()
    assert "error" not in at.query_params
    assert len(as_shown(at.dataframe(key="errors_groups").value)) == 3


def test_unknown_error_in_the_url_says_so(small_logs):
    at = _page(small_logs, "errors", error="[x](http://127.0.0.1:9/)")
    assert len(at.warning) == 1 and "No failure of the error" in at.warning[0].value
    assert "](http" not in at.warning[0].value  # escaped, not a link


def test_unfixed_page_groups_unfixed_failures_only(small_logs):
    at = _page(small_logs, "unfixed")
    metrics = _metrics(at)
    assert (metrics["Unfixed failures"], metrics["Errors"], metrics["Sessions affected"]) == ("1", "1", "1")
    groups = as_shown(at.dataframe(key="unfixed_groups").value)
    assert list(groups["error"]) == [CV2_ERROR] and list(groups["count"]) == [1]
    _select(at, "unfixed_groups")
    assert _metrics(at)["Unfixed failures"] == "1"
    assert list(as_shown(at.dataframe(key="unfixed_groups_occurrences").value)["log_id"]) == ["s2-a1"]


def test_unfixed_error_can_show_its_fixed_failures_too(tmp_path, cache_dir, monkeypatch):
    logs = tmp_path / "logs"
    write_record(logs, log_id="old", session_id="A", when=AS_OF - timedelta(hours=5))
    write_record(logs, log_id="fix", session_id="A", status="success", when=AS_OF - timedelta(hours=4))
    write_record(logs, log_id="new", session_id="B", when=AS_OF - timedelta(hours=1))
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = _page(logs, "unfixed")
    assert list(as_shown(at.dataframe(key="unfixed_groups").value)["count"]) == [1]
    _select(at, "unfixed_groups")
    assert list(as_shown(at.dataframe(key="unfixed_groups_occurrences").value)["log_id"]) == ["new"]
    at.toggle(key="unfixed_groups_with_fixed").set_value(True).run()
    assert list(as_shown(at.dataframe(key="unfixed_groups_occurrences").value)["log_id"]) == ["new", "old"]


@pytest.mark.parametrize(
    ("search", "message"),
    [(None, "No failure in this range."), ("no such text anywhere", "Nothing matches the filters.")],
)
def test_empty_error_list_says_why(tmp_path, cache_dir, monkeypatch, search, message):
    logs = tmp_path / "logs"
    write_record(logs, log_id="ok", status="success")
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = _page(logs, "errors")
    if search:
        at.sidebar.text_input(key=url_filters.TEXT).input(search).run()
        assert not at.exception
    assert message in [i.value for i in at.info]


def test_error_loaders_take_the_filter(small_tree, index_of):
    index = index_of(small_tree)
    only_b = AttemptFilter(models=("model-b",))
    assert errors.error_groups(index, only_b).empty
    assert errors.error_occurrences(index, "no-such-fingerprint").empty


def test_states_per_model_say_when_no_model_was_logged(tmp_path, cache_dir, monkeypatch):
    """Issue 31, item 5: a tree that logs no model shows "(none logged)", not "-" in every Model cell."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import write_record

    logs = tmp_path / "logs"
    write_record(logs, log_id="f1", ai_model=None)
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py"))
    at.run()
    at.switch_page("app_pages/errors.py")
    at.run()
    assert not at.exception
    table = next(frame for frame in at.dataframe if "ai_model" in frame.value.columns)
    assert list(as_shown(table.value)["ai_model"]) == ["(none logged)"]


def test_errors_ids_and_sessions_in_tables_are_links_that_keep_the_filters(small_logs):
    at = _page(small_logs, "errors", model="model-a", triage="all")
    groups = at.dataframe(key="errors_groups").value
    first = urlsplit(groups["error"].iloc[0])
    assert first.path == "/errors" and unquote(first.fragment) == NAME_ERROR  # the cell shows the error
    query = parse_qs(first.query)
    assert query["model"] == ["model-a"] and query["triage"] == ["all"]  # the list's own filter stays
    fingerprint = query["error"][0]
    assert groups["fingerprint"].iloc[0] == f"/errors?error={fingerprint}&model=model-a&triage=all"
    config = at.dataframe(key="errors_groups").proto.columns
    assert '"error": {"label": "Error"' in config and '"type_config": {"type": "link"' in config
    at.query_params["error"] = fingerprint
    at.run()
    occurrence = at.dataframe(key="errors_groups_occurrences").value.iloc[0]
    # an occurrence opens its session at that attempt, by its error line or its ids; the page's own
    # parameters (triage, error) stay behind: only the sidebar's filters go along
    assert occurrence["log_id"] == "/sessions?attempt=s1-a2&session=S1&model=model-a"
    assert occurrence["session_id"] == "/sessions?session=S1&model=model-a"
    assert occurrence["fixed_by"] == "/sessions?attempt=s1-a3&session=S1&model=model-a"
    assert occurrence["error_line"] == "/sessions?attempt=s1-a2&session=S1&model=model-a#" + NAME_ERROR


def test_the_unfixed_lists_errors_open_in_place(small_logs):
    at = _page(small_logs, "unfixed", category="import_error")
    link = at.dataframe(key="unfixed_groups").value["fingerprint"].iloc[0]
    fingerprint = as_shown(at.dataframe(key="unfixed_groups").value)["fingerprint"].iloc[0]
    assert link == f"/unfixed?error={fingerprint}&category=import_error"
    at.query_params["error"] = fingerprint
    at.run()
    assert [t.value for t in at.title] == ["Unfixed failures"] and at.code[0].value == CV2_ERROR
