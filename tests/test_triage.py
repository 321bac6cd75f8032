"""Triage (issue 32): resolve, unresolve, ignore, assign, note and merge, kept as events in the tree.

On real trees (written the way the writer writes them) and a real S3 API (moto): states worked out
from the events and the logs (regressed after a resolution, escalating after an ignore runs out),
merged groups, concurrent writers in separate processes, a killed writer's half line, a FIFO in
place of the file, and an index rebuilt from scratch that shows the same decisions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from loaders.analysis.errors import error_occurrences
from loaders.analysis.triage import current_triage, triaged_groups
from loaders.annotations.markers import record_marker
from loaders.annotations.triage import TriageError, make_event, read_triage, record_event, triage_file
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, as_shown, write_record

ROOT = Path(__file__).resolve().parents[1]
KEY_ERROR = {
    "error_type": "KeyError",
    "error_message": "Script exited with code 1. Error: User code error: KeyError: 'band'",
    "stderr": "Traceback (most recent call last):\nKeyError: 'band'\n",
}


def failure(root: Path, log_id: str, when, **fields) -> None:
    write_record(root, log_id=log_id, session_id=log_id, when=when, **fields)


@pytest.fixture
def tree(tmp_path) -> Path:
    """Two errors: NameError (3 failures, 10 to 8 days before AS_OF) and KeyError (2, 9 and 7 days before)."""
    root = tmp_path / "logs"
    for n in range(3):
        failure(root, f"name-{n}", AS_OF - timedelta(days=10 - n))
    for n in range(2):
        failure(root, f"key-{n}", AS_OF - timedelta(days=9 - 2 * n), **KEY_ERROR)
    return root


def fingerprints(index: LogIndex) -> dict[str, str]:
    """error text -> fingerprint."""
    groups = triaged_groups(index, wanted="all", as_of=AS_OF)
    return {
        ("KeyError" if "KeyError" in error else "NameError"): fp for error, fp in zip(groups.error, groups.fingerprint)
    }


def act(root: Path, action: str, fingerprint: str, when=None, **details) -> None:
    record_event(root, make_event(action, fingerprint, "ana", at=when or AS_OF - timedelta(days=5), **details))


def state_of(index: LogIndex, fingerprint: str) -> str:
    groups = triaged_groups(index, wanted="all", as_of=AS_OF)
    return groups.set_index("fingerprint").loc[fingerprint, "triage"]


def test_a_resolved_error_leaves_the_list_and_comes_back_as_regressed(tree, cache_dir):
    with LogIndex(tree, cache_dir) as index:
        name = fingerprints(index)["NameError"]
        act(tree, "resolve", name)
        assert state_of(index, name) == "resolved"
        assert name not in set(triaged_groups(index, as_of=AS_OF).fingerprint)  # unresolved is the default
        assert name in set(triaged_groups(index, wanted="resolved", as_of=AS_OF).fingerprint)
        failure(tree, "name-back", AS_OF - timedelta(days=1))
        index.refresh()
        listed = triaged_groups(index, as_of=AS_OF)
        assert listed.iloc[0]["fingerprint"] == name and listed.iloc[0]["triage"] == "regressed"
        states, _ = current_triage(index, AS_OF)
        assert states[name].regressed_at.date() == (AS_OF - timedelta(days=1)).date()
        act(tree, "unresolve", name, when=AS_OF)
        assert state_of(index, name) == "unresolved"


def test_resolved_in_the_next_marker_waits_for_the_mark(tree, cache_dir):
    with LogIndex(tree, cache_dir) as index:
        name = fingerprints(index)["NameError"]
        act(tree, "resolve", name, in_next_marker=True)
        assert state_of(index, name) == "resolving"
        record_marker(tree, "release 12", AS_OF - timedelta(days=4))
        assert state_of(index, name) == "resolved"
        failure(tree, "name-after-release", AS_OF - timedelta(days=3))
        index.refresh()
        assert state_of(index, name) == "regressed"


def test_an_ignore_until_three_more_failures_comes_back_escalating(tree, cache_dir):
    with LogIndex(tree, cache_dir) as index:
        key = fingerprints(index)["KeyError"]
        act(tree, "ignore", key, until_count=3)
        assert state_of(index, key) == "ignored"
        assert key not in set(triaged_groups(index, as_of=AS_OF).fingerprint)
        for n in range(3):
            failure(tree, f"key-more-{n}", AS_OF - timedelta(days=2, hours=n), **KEY_ERROR)
            index.refresh()
            assert state_of(index, key) == ("escalating" if n == 2 else "ignored")
        assert triaged_groups(index, as_of=AS_OF).iloc[0]["fingerprint"] == key


def test_an_ignore_until_a_date_comes_back_on_that_date(tree, cache_dir):
    with LogIndex(tree, cache_dir) as index:
        key = fingerprints(index)["KeyError"]
        act(tree, "ignore", key, until=(AS_OF + timedelta(days=2)).date())
        assert current_triage(index, AS_OF)[0][key].state == "ignored"
        assert current_triage(index, AS_OF + timedelta(days=3))[0][key].state == "escalating"


def test_assign_and_notes_show_in_the_list_and_the_trail(tree, cache_dir):
    with LogIndex(tree, cache_dir) as index:
        key = fingerprints(index)["KeyError"]
        act(tree, "assign", key, assignee="Ana Lima")
        act(tree, "note", key, text="The band index is off by one in the template.")
        mine = triaged_groups(index, wanted="assigned:ana lima", as_of=AS_OF)
        assert list(mine.fingerprint) == [key] and mine.iloc[0]["assignee"] == "Ana Lima"
        trail = current_triage(index, AS_OF)[0][key].as_dict()
        assert [event["what"] for event in trail["events"]] == [
            "assigned to Ana Lima",
            "noted: The band index is off by one in the template.",
        ]
        assert trail["notes"] == ["The band index is off by one in the template."]


def test_a_merged_pair_is_one_group_with_both_histories(tree, cache_dir):
    with LogIndex(tree, cache_dir) as index:
        found = fingerprints(index)
        act(tree, "merge", found["KeyError"], into=found["NameError"])
        groups = triaged_groups(index, wanted="all", as_of=AS_OF)
        assert list(groups.fingerprint) == [found["NameError"]]
        row = groups.iloc[0]
        assert (row["count"], row["failures"], row["members"]) == (5, 5, 1)
        assert sum(row["daily"]) == 0 or len(row["daily"]) == 7
        both = error_occurrences(index, [found["NameError"], found["KeyError"]])
        assert len(both) == 5
        act(
            tree, "resolve", found["KeyError"], when=AS_OF - timedelta(days=1)
        )  # an action on a member acts on the group
        assert state_of(index, found["NameError"]) == "resolved"


def test_actions_that_cannot_be_are_refused_with_a_reason():
    with pytest.raises(TriageError, match="unknown action"):
        make_event("delete", "abc", "ana")
    with pytest.raises(TriageError, match="another fingerprint"):
        make_event("merge", "abc", "ana", into="abc")
    with pytest.raises(TriageError, match="not both"):
        make_event("ignore", "abc", "ana", until_count=3, until=date(2026, 1, 1))
    with pytest.raises(TriageError, match="needs text"):
        make_event("note", "abc", "ana", text="   ")
    with pytest.raises(TriageError, match="1 to"):
        make_event("ignore", "abc", "ana", until_count=0)


WRITER = """
import sys
from loaders.annotations.triage import make_event, record_event
root, who = sys.argv[1], sys.argv[2]
for n in range(40):
    record_event(root, make_event("note", "fp-shared", who, text=f"{who} note {n}"))
"""


def test_two_people_acting_at_once_lose_no_event(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), who], env=env) for who in ("ana", "bruno")]
    assert [writer.wait(120) for writer in writers] == [0, 0]
    log = read_triage(root)
    assert log.problems == [] and len(log.events) == 80
    assert {event.text for event in log.events} == {f"{who} note {n}" for who in ("ana", "bruno") for n in range(40)}


def test_a_half_written_line_is_skipped_and_said(tmp_path):
    root = tmp_path / "logs"
    record_event(root, make_event("note", "fp", "ana", text="first"))
    with open(triage_file(root), "ab") as handle:
        handle.write(b'{"id": "x", "at": "2026-')  # a writer killed mid-line
    record_event(root, make_event("note", "fp", "ana", text="after the crash"))
    log = read_triage(root)
    assert [event.text for event in log.events] == ["first", "after the crash"]
    assert len(log.problems) == 1 and "line 2" in log.problems[0]


def test_a_fifo_in_place_of_the_file_is_refused_not_waited_on(tmp_path):
    root = tmp_path / "logs"
    triage_file(root).parent.mkdir(parents=True)
    os.mkfifo(triage_file(root))
    done = threading.Event()

    def both() -> None:
        log = read_triage(root)
        assert log.events == [] and "not a regular file" in log.problems[0]
        with pytest.raises(OSError, match="not a regular file"):
            record_event(root, make_event("note", "fp", "ana", text="x"))
        done.set()

    worker = threading.Thread(target=both, daemon=True)
    worker.start()
    worker.join(20)
    assert done.is_set()


def test_an_s3_tree_keeps_events_as_objects_and_a_rebuilt_index_shows_the_same(s3_env, tmp_path, cache_dir):
    from tests.s3_server import client, upload_tree

    local = tmp_path / "local"
    for n in range(2):
        failure(local, f"name-{n}", AS_OF - timedelta(days=10 - n))
    upload_tree(s3_env, local, "logs", "team")
    url = "s3://logs/team"
    with LogIndex(url, cache_dir) as index:
        name = fingerprints(index)["NameError"]
        act(url, "resolve", name)
        act(url, "assign", name, assignee="bruno")
        keys = [
            item["Key"]
            for item in client(s3_env).list_objects_v2(Bucket="logs", Prefix="team/analysis/triage/")["Contents"]
        ]
        assert len(keys) == 2 and all(key.endswith(".json") for key in keys)
        before = current_triage(index, AS_OF)[0][name].as_dict()
    with LogIndex(url, tmp_path / "another-cache") as rebuilt:
        after = current_triage(rebuilt, AS_OF)[0][name].as_dict()
    assert after == before and after["state"] == "resolved" and after["assignee"] == "bruno"


def test_the_events_file_is_plain_json_lines(tree, cache_dir):
    act(tree, "ignore", "abc123", until=date(2026, 1, 31))
    line = json.loads(triage_file(tree).read_text().splitlines()[0])
    assert line["action"] == "ignore" and line["until"] == "2026-01-31" and line["who"] == "ana"


APP = str(ROOT / "dashboard" / "streamlit_app.py")


def test_the_error_page_records_decisions_and_shows_the_trail(tree, cache_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    with LogIndex(tree, cache_dir) as index:
        key = fingerprints(index)["KeyError"]
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(tree))
    monkeypatch.setenv("FIXTRAIL_USER", "Ana Lima")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["error"] = key
    at.switch_page("app_pages/errors.py")
    at.run()
    assert not at.exception
    assert "No decision recorded yet." in [c.value for c in at.caption]
    next(b for b in at.button if b.key == "triage_resolve").click().run()
    events = read_triage(tree).events
    assert [(e.action, e.fingerprint, e.who) for e in events] == [("resolve", key, "Ana Lima")]
    assert any("resolved" in text.value for text in at.text)  # the activity trail
    assert any(b.key == "triage_reopen" for b in at.button)
    # the list: unresolved by default hides it, ?triage=resolved shows it
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/errors.py")
    at.run()
    listed = as_shown(at.dataframe[0].value)
    assert key not in set(listed["fingerprint"]) and len(listed) == 1
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["triage"] = "resolved"
    at.switch_page("app_pages/errors.py")
    at.run()
    assert list(as_shown(at.dataframe[0].value)["fingerprint"]) == [key]


def test_a_merge_that_would_close_a_circle_is_refused(tree, cache_dir, capsys):
    from cli.main import main

    with LogIndex(tree, cache_dir) as index:
        found = fingerprints(index)
    base = ["--logs-dir", str(tree)]
    assert main([*base, "merge", found["KeyError"], found["NameError"]]) == 0
    capsys.readouterr()
    assert main([*base, "merge", found["NameError"], found["KeyError"]]) == 1
    assert "one error already" in capsys.readouterr().err
    assert [event.action for event in read_triage(tree).events] == ["merge"]


def test_typed_text_cannot_forge_lines_or_drive_the_terminal(tree, cache_dir, capsys):
    from cli.main import main

    with LogIndex(tree, cache_dir) as index:
        key = fingerprints(index)["KeyError"]
    forged = "fine\n[resolved  ]     0x  FAKE LINE\n\x1b[31mRED"
    assert main(["--logs-dir", str(tree), "note", key, forged, "--by", "eve\x1b]0;pwned\x07"]) == 0
    assert main(["--logs-dir", str(tree), "triage", "--state", "all"]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\x07" not in shown
    assert not any(line.startswith("[resolved  ]") for line in shown.splitlines())
    assert "fine / [resolved  ]     0x  FAKE LINE / ?[31mRED" in shown


def test_the_panel_records_what_was_typed_just_before_the_click(tree, cache_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    with LogIndex(tree, cache_dir) as index:
        key = fingerprints(index)["KeyError"]
    monkeypatch.setenv("FIXTRAIL_LOGS_DIR", str(tree))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["error"] = key
    at.switch_page("app_pages/errors.py")
    at.run()
    at.text_input(key="triage_assignee").input("Ana")  # typed, not yet applied: the click comes first
    next(b for b in at.button if b.key == "triage_assign").click().run()
    assert [(e.action, e.assignee) for e in read_triage(tree).events] == [("assign", "Ana")]
