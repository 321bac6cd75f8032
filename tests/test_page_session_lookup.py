"""``?session=`` and the search box take a session id, an attempt id, or a unique start of either."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from loaders.analysis.sessions import find_session
from tests.conftest import AS_OF, as_shown, write_record

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")


@pytest.mark.parametrize(
    ("text", "session_id"),
    [
        ("S1", "S1"),  # a session id
        ("s1-a2", "S1"),  # an attempt's log_id
        ("s4-a", "S4"),  # the start of attempt ids of one session
        ("S9", "S9"),  # a session known from its session file only
        ("s2", "S2"),
        ("nothing", None),
        ("s", None),  # the start of several sessions' ids
        ("../etc", None),
    ],
)
def test_find_session(small_tree, index_of, text, session_id):
    assert find_session(index_of(small_tree), text).session_id == session_id


def test_an_ambiguous_start_lists_the_candidates(small_tree, index_of):
    lookup = find_session(index_of(small_tree), "s")
    assert sorted(lookup.candidates["session_id"]) == ["S1", "S2", "S3", "S4"]


def test_an_exact_id_wins_over_longer_ids_it_starts(tmp_path, index_of):
    logs = tmp_path / "logs"
    write_record(logs, log_id="abc", session_id="abc", when=AS_OF)
    write_record(logs, log_id="abcdef", session_id="abcdef", when=AS_OF)
    assert find_session(index_of(logs), "abc").session_id == "abc"


def _sessions_page(small_tree, monkeypatch, session: str | None = None) -> AppTest:
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    if session is not None:
        at.query_params["session"] = session
    at.switch_page("app_pages/sessions.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_url_with_an_attempt_id_prefix_opens_its_session(small_tree, cache_dir, monkeypatch):
    at = _sessions_page(small_tree, monkeypatch, session="s1-a3")
    assert [t.value for t in at.title] == ["Session timeline"]
    assert at.query_params["session"] in ("S1", ["S1"])
    assert {m.label: m.value for m in at.metric}["Attempts"] == "3"


def test_url_with_an_ambiguous_start_offers_the_candidates(small_tree, cache_dir, monkeypatch):
    at = _sessions_page(small_tree, monkeypatch, session="s")
    assert [t.value for t in at.title] == ["Which session?"]
    assert sorted(as_shown(at.dataframe(key="sessions_candidates").value)["session_id"]) == ["S1", "S2", "S3", "S4"]


def test_the_search_box_opens_a_session(small_tree, cache_dir, monkeypatch):
    at = _sessions_page(small_tree, monkeypatch)
    at.text_input(key="sessions_find").input("s4-a2").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Session timeline"]
    assert at.query_params["session"] in ("S4", ["S4"])
