"""Filters live in the URL: a shared link reopens the same view, and a bar lists what is active."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _opened(small_tree, monkeypatch, **params: str | list[str]) -> AppTest:
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _bar(at: AppTest) -> list[str]:
    return [b.label for b in at.button if b.key and b.key.startswith("filterbar_remove_")]


@pytest.mark.parametrize(
    ("params", "failures", "successes"),
    [
        ({"model": "model-b"}, "0", "1"),
        ({"status": "failed"}, "4", "0"),
        ({"tag": "lib:cv2"}, "1", "0"),
        ({"tag": "lib:cv2,not-a-tag"}, "1", "0"),
        ({"q": "cv2"}, "1", "0"),
        ({"start": "2025-12-18", "end": "2025-12-20"}, "2", "2"),
        ({"category": "import_error"}, "1", "0"),
    ],
)
def test_a_url_with_filters_opens_the_filtered_numbers(small_tree, cache_dir, monkeypatch, params, failures, successes):
    at = _opened(small_tree, monkeypatch, **params)
    metrics = _metrics(at)
    assert (metrics["Total failures"], metrics["Total successes"]) == (failures, successes)


def test_the_bar_lists_active_filters_and_removes_them(small_tree, cache_dir, monkeypatch):
    at = _opened(small_tree, monkeypatch, model="model-b", q="cv2")
    assert _bar(at) == ["Model: model\\-b", "Search: cv2"]
    next(b for b in at.button if b.label == "Search: cv2").click().run()
    assert _bar(at) == ["Model: model\\-b"]
    assert _metrics(at)["Total successes"] == "1"
    next(b for b in at.button if b.key == "filterbar_clear").click().run()
    assert _bar(at) == []
    assert _metrics(at)["Total failures"] == "4"


def test_a_date_range_labels_the_seven_day_tiles_with_its_window(small_tree, cache_dir, monkeypatch):
    at = _opened(small_tree, monkeypatch, end="2025-12-19")
    metrics = _metrics(at)
    assert metrics["Attempts (7 days to 2025-12-19)"] == "3"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13-01", "From 2025\\-13\\-01 is not a date (YYYY-MM-DD): not applied."),
        ("0001-01-01", "From 0001-01-01 is outside 1900-01-01 to 2999-12-31: not applied."),
    ],
)
def test_a_refused_date_says_why(small_tree, cache_dir, monkeypatch, value, message):
    at = _opened(small_tree, monkeypatch, start=value)
    assert message in [w.value for w in at.sidebar.warning]
    assert _metrics(at)["Total failures"] == "4"


def test_from_after_to_says_nothing_can_match(small_tree, cache_dir, monkeypatch):
    at = _opened(small_tree, monkeypatch, start="2025-12-20", end="2025-12-10")
    assert any("is after To" in w.value for w in at.sidebar.warning)
    assert _metrics(at)["Total failures"] == "0"


def test_filters_stay_on_a_page_switch(small_tree, cache_dir, monkeypatch):
    at = _opened(small_tree, monkeypatch, model="model-b")
    at.switch_page("app_pages/sessions.py")
    at.run()
    assert not at.exception
    assert _metrics(at)["Sessions"] == "1"
    assert _bar(at) == ["Model: model\\-b"]


def test_an_index_that_cannot_be_loaded_is_a_message_until_it_can(small_tree, cache_dir, monkeypatch):
    from filelock import FileLock

    from loaders.store import index as index_module

    monkeypatch.setattr(index_module, "LOCK_TIMEOUT_SECONDS", 0.2)
    lock = FileLock(str(index_module.index_path_for(small_tree.resolve(), cache_dir.resolve())) + ".lock")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with lock:
        monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert not at.exception
        assert any("Cannot load the logs" in e.value and "locked by another process" in e.value for e in at.error)
    next(b for b in at.sidebar.button if b.label == "Reload logs").click().run()
    assert not at.exception and not at.error
    assert _metrics(at)["Total failures"] == "4"


def test_a_cache_directory_that_cannot_exist_is_a_message(small_tree, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(small_tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("Cannot keep an index of the logs" in e.value for e in at.error)
