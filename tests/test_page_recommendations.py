"""Recommendations: most urgent first, each with links to its error and an example session."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from loaders.outputs.sections import LEVELS, prioritised_recommendations
from tests.conftest import AS_OF, write_record

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")


def _mixed_tree(root: Path) -> Path:
    """10 NameErrors (77% of failures: HIGH), 2 KeyErrors (15%: MEDIUM), 1 cv2 import failure
    (8%: LOW, and a LIBRARY ISSUE, HIGH): the report lists the library last, the page second."""
    for n in range(10):
        write_record(root, log_id=f"n{n}", when=AS_OF - timedelta(hours=n + 1))
    for n in range(2):
        write_record(
            root,
            log_id=f"k{n}",
            when=AS_OF - timedelta(hours=20 + n),
            error_message="KeyError: 0",
            error_type="KeyError",
            stderr="KeyError: 0\n",
        )
    write_record(
        root,
        log_id="cv",
        session_id="CV",
        when=AS_OF - timedelta(hours=30),
        code="import cv2\n",
        error_type="ModuleNotFoundError",
        stderr="ModuleNotFoundError: No module named 'cv2'\n",
        tags=["lib:cv2"],
    )
    return root


def test_recommendations_are_ordered_by_level(tmp_path, index_of):
    advice = prioritised_recommendations(index_of(_mixed_tree(tmp_path / "logs")))
    assert list(advice["level"]) == ["HIGH", "HIGH", "MEDIUM", "LOW"]
    assert advice["text"].iloc[0].startswith("HIGH PRIORITY: 10 name error failures")
    assert advice["text"].iloc[1].startswith("LIBRARY ISSUE: cv2")
    assert advice["text"].iloc[3].startswith("LOW PRIORITY: 1 import error failures")
    assert list(advice["level"].map(LEVELS.index)) == sorted(advice["level"].map(LEVELS.index))
    assert advice["session_id"].iloc[1] == "CV"  # the library's example failure, found by its log_id


def test_each_recommendation_links_to_its_error_and_a_session(tmp_path, cache_dir, monkeypatch):
    logs = _mixed_tree(tmp_path / "logs")
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(logs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/recommendations.py")
    at.run()
    assert not at.exception
    advice = [m.value for m in at.markdown if "PRIORITY" in m.value or "LIBRARY ISSUE" in m.value]
    assert len(advice) == 4 and "LIBRARY ISSUE" in advice[1] and "LOW PRIORITY" in advice[3]
    assert not at.code  # the text blocks are in tabs drawn when opened
    links = [(link.proto.label, link.proto.query_string) for link in at.get("page_link")]
    error_links = [query for label, query in links if label == "Open the error"]
    session_links = [query for label, query in links if label == "Open an example session"]
    assert len(error_links) == 4 and all(q.startswith("error=") for q in error_links)
    assert "session=CV" in session_links
    # the link opens the error's page with the numbers of that error
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["error"] = error_links[0].removeprefix("error=")
    at.switch_page("app_pages/errors.py")
    at.run()
    assert {m.label: m.value for m in at.metric}["Occurrences"] == "10"


def test_the_ai_context_and_the_learning_summary_are_drawn_in_their_tabs(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(_mixed_tree(tmp_path / "logs")))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/recommendations.py")
    at.run()
    assert any(c.value.startswith("What changed from a failed attempt") for c in at.caption)  # fix recipes first
    at.session_state["recommendations_view"] = "AI context"
    at.run()
    assert not at.exception
    assert len(at.code) == 1 and "NameError" in at.code[0].value
    assert at.slider(key="recommendations_examples").value == 10
    at.slider(key="recommendations_examples").set_value(1).run()
    at.number_input(key="recommendations_budget").set_value(1500).run()
    assert "KeyError" not in at.code[0].value  # one example: the most frequent error only
    at.session_state["recommendations_view"] = "AI learning summary"
    at.run()
    assert len(at.code) == 1 and at.code[0].value.endswith("=== END LEARNINGS ===")
    at.session_state["recommendations_view"] = "AI context"  # back: the controls as they were left
    at.run()
    assert not at.exception
    assert at.slider(key="recommendations_examples").value == 1
    assert at.number_input(key="recommendations_budget").value == 1500
    assert "KeyError" not in at.code[0].value


def test_every_recommendation_links_to_an_example_of_its_own_kind(cache_dir):
    """Issue 31, item 4: on the bundled demo tree, each card's example attempt is of the error
    (fingerprint) or the bridge kind it names (its CRITICAL stdin card opened a FileNotFoundError)."""
    from loaders.store.index import LogIndex

    index = LogIndex(Path(__file__).resolve().parents[1] / "logs", cache_dir)
    advice = prioritised_recommendations(index)
    linked = advice[advice["log_id"].notna()]
    assert len(linked) >= 3 and any("stdin parsing" in text for text in linked["text"])
    attempts = index.frame(
        "SELECT log_id, session_id, fingerprint, bridge_issue FROM attempts WHERE list_contains(?, log_id)",
        [list(linked["log_id"])],
    ).set_index("log_id")
    for card in linked.itertuples():
        target = attempts.loc[card.log_id]
        if isinstance(card.fingerprint, str):
            assert target["fingerprint"] == card.fingerprint, card.text
        if "stdin parsing" in card.text:
            assert target["bridge_issue"] == "stdin_parsing", card.text
        if isinstance(card.session_id, str):
            assert target["session_id"] == card.session_id, card.text
