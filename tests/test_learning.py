"""The learning loop: fix rules, the AI context's advice, fingerprint states, inferred sessions."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from loaders.analysis import metrics, sessions, transitions
from loaders.analysis.errors import error_categories
from loaders.analysis.filters import ALL
from loaders.analysis.recipes import fix_rules
from loaders.analysis.states import fingerprint_states, what_changed
from loaders.analysis.transitions import transition_changes
from loaders.demo.trees import generate_tree
from loaders.demo.unlinked import same_session_pairs, strip_links
from loaders.ingest.code_changes import CHANGE_COLUMNS, describe_change
from loaders.ingest.parsing import worker_count
from loaders.outputs.context import ai_context
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, CV2_CODE, SKIMAGE_CODE, write_record

CV2, SKIMAGE = CV2_CODE, SKIMAGE_CODE
OLD_OUTPUT = "from MapsBridge import MapsBridge\nbridge = MapsBridge.FromStdIn()\nbridge.SendTileOutput(tile)\n"
NEW_OUTPUT = "from MapsBridge import MapsBridge\nbridge = MapsBridge.FromStdIn()\nbridge.SendSingleTileOutput(tile)\n"
INT_KEY = "from MapsBridge import MapsBridge\nname = request.ImageFileNames[0]\n"
STR_KEY = "from MapsBridge import MapsBridge\nname = request.ImageFileNames['0']\n"


def _fail(logs, log_id, session, when, code, line, error_type, **fields):
    return write_record(
        logs,
        log_id=log_id,
        session_id=session,
        when=when,
        code=code,
        error_type=error_type,
        error_message=f"Script exited with code 1. Error: User code error: {line.split(': ', 1)[1]}",
        stderr=f'Traceback (most recent call last):\n  File "script.py", line 3, in <module>\n{line}\n',
        **fields,
    )


def _fix(logs, log_id, session, when, code, previous):
    return write_record(
        logs, log_id=log_id, session_id=session, when=when, code=code, status="success", previous_attempt_id=previous
    )


@pytest.fixture
def recipe_tree(tmp_path):
    """10 cv2 -> skimage fixes (and one try of it that failed), 4 renamed outputs, 3 string keys."""
    logs = tmp_path / "logs"
    start = AS_OF - timedelta(days=5)
    for n in range(10):
        t = start + timedelta(hours=n)
        _fail(logs, f"cv{n}", f"CV{n}", t, CV2, "ModuleNotFoundError: No module named 'cv2'", "ModuleNotFoundError")
        _fix(logs, f"cv{n}-ok", f"CV{n}", t + timedelta(minutes=2), SKIMAGE, f"cv{n}")
    t = start + timedelta(hours=20)
    _fail(logs, "cvx", "CVX", t, CV2, "ModuleNotFoundError: No module named 'cv2'", "ModuleNotFoundError")
    _fail(
        logs,
        "cvx2",
        "CVX",
        t + timedelta(minutes=2),
        SKIMAGE.replace("img", "imgs"),
        "NameError: name 'imgs' is not defined",
        "NameError",
    )
    _fix(logs, "cvx-ok", "CVX", t + timedelta(minutes=4), SKIMAGE, "cvx2")
    for n in range(4):
        t = start + timedelta(days=1, hours=n)
        _fail(
            logs,
            f"out{n}",
            f"OUT{n}",
            t,
            OLD_OUTPUT,
            "AttributeError: 'MapsBridge' object has no attribute 'SendTileOutput'",
            "AttributeError",
        )
        _fix(logs, f"out{n}-ok", f"OUT{n}", t + timedelta(minutes=3), NEW_OUTPUT, f"out{n}")
    for n in range(3):
        t = start + timedelta(days=2, hours=n)
        _fail(logs, f"key{n}", f"KEY{n}", t, INT_KEY, "KeyError: 0", "KeyError")
        _fix(logs, f"key{n}-ok", f"KEY{n}", t + timedelta(minutes=1), STR_KEY, f"key{n}")
    return logs


def _rule(rules, change):
    matches = rules[rules["change"] == change]
    assert len(matches) == 1, list(rules["change"])
    return matches.iloc[0]


def test_fix_rules_with_support_and_success_rate(recipe_tree, cache_dir):
    rules = fix_rules(LogIndex(recipe_tree, cache_dir))
    cv2 = _rule(rules, "cv2 -> skimage")
    assert (cv2["fixes"], cv2["tries"]) == (10, 11)
    assert cv2["text"] == "cv2 -> skimage: 10 fixes, 91%"
    output = _rule(rules, "SendTileOutput -> SendSingleTileOutput")
    assert (output["kind"], output["fixes"], output["tries"]) == ("name", 4, 4)
    key = _rule(rules, "[0] -> ['0']")
    assert (key["kind"], key["fixes"]) == ("subscript", 3)
    assert rules.iloc[0]["change"] == "cv2 -> skimage"


def test_transition_changes_are_recorded_once(recipe_tree, cache_dir):
    index = LogIndex(recipe_tree, cache_dir)
    fix_rules(index)
    with index.index_file() as connection:
        recorded = connection.execute("SELECT count(*), count(added_tokens) FROM idx.transition_changes").fetchone()
    assert recorded == (19, 19)
    # Changing the fix's file drops its recorded change; the others stay.
    fixed = next(recipe_tree.glob("successes/*/cv0-ok.json"))
    data = json.loads(fixed.read_text())
    data["code"] = CV2
    fixed.write_text(json.dumps(data))
    index.refresh(full=True)
    with index.index_file() as connection:
        assert connection.execute("SELECT count(*) FROM idx.transition_changes").fetchone()[0] == 18
        failure = connection.execute("SELECT min(failure_path) FROM idx.transition_changes").fetchone()[0]
    assert _rule(fix_rules(index), "cv2 -> skimage")["fixes"] == 9
    # Removing a failure's file drops the changes recorded from it or to it.
    Path(failure).unlink()
    index.refresh()
    with index.index_file() as connection:
        sql = "SELECT count(*) FROM idx.transition_changes WHERE ? IN (failure_path, next_path)"
        assert connection.execute(sql, [failure]).fetchone()[0] == 0
        assert connection.execute("SELECT count(*) FROM idx.transition_changes").fetchone()[0] >= 17


def test_ai_context_says_what_to_do_instead(recipe_tree, cache_dir):
    index = LogIndex(recipe_tree, cache_dir)
    text = ai_context(index, max_examples=10)
    assert (
        "Instead: Don't import cv2: it is not installed; use skimage instead (10 fixes, 91% of tries worked)." in text
    )
    assert "Instead: Use SendSingleTileOutput instead of SendTileOutput (4 fixes, 100% of tries worked)." in text
    assert "Instead: Write ['0'] instead of [0] (3 fixes, 100% of tries worked)." in text
    assert text.index("No module named 'cv2'") < text.index("SendTileOutput")  # most frequent first
    assert text == ai_context(LogIndex(recipe_tree, cache_dir), max_examples=10)


@pytest.mark.parametrize("budget", [200, 400, 800])
def test_ai_context_respects_its_budget(recipe_tree, cache_dir, budget):
    text = ai_context(LogIndex(recipe_tree, cache_dir), max_examples=10, max_chars=budget)
    assert len(text) <= budget
    assert text.startswith("## Common Script Errors to Avoid")


@pytest.fixture
def history_tree(tmp_path):
    """Fingerprints with known states at AS_OF: regressed, new, recurring, fixed, dormant."""
    logs = tmp_path / "logs"
    line = {
        "reg": "ValueError: operands could not be broadcast",
        "new": "ZeroDivisionError: division by zero",
        "rec": "IndexError: list index out of range",
        "fix": "TypeError: unsupported operand",
        "dor": "RuntimeError: stuck",
    }
    kinds = {
        "reg": "ValueError",
        "new": "ZeroDivisionError",
        "rec": "IndexError",
        "fix": "TypeError",
        "dor": "RuntimeError",
    }

    def fail(name, n, days_ago, fixed, model="model-a"):
        t = AS_OF - timedelta(days=days_ago)
        session = f"{name}{n}"
        _fail(logs, f"{session}-f", session, t, "x = 1\n", line[name], kinds[name], ai_model=model)
        if fixed:
            _fix(logs, f"{session}-ok", session, t + timedelta(minutes=5), "x = 2\n", f"{session}-f")

    fail("reg", 1, 20, True)
    fail("reg", 2, 18, True)
    fail("reg", 3, 2, False, model="model-b")  # every earlier one was fixed: it came back
    fail("new", 1, 1, False)
    fail("rec", 1, 10, False)
    fail("rec", 2, 3, True)
    fail("rec", 3, 9, True)
    fail("fix", 1, 12, True)
    fail("dor", 1, 15, False)
    return logs


def test_fingerprint_states(history_tree, cache_dir):
    states = fingerprint_states(LogIndex(history_tree, cache_dir), as_of=AS_OF)
    by_error = {row.example_error.split(":")[0]: row for row in states.itertuples()}
    assert by_error["ValueError"].state == "regressed"
    # Each return after all earlier failures were fixed is a regression: day -18 and day -2.
    assert (by_error["ValueError"].regressions, by_error["ValueError"].regressions_7d) == (2, 1)
    assert by_error["ZeroDivisionError"].state == "new"
    assert by_error["IndexError"].state == "recurring"
    assert (by_error["IndexError"].count_7d, by_error["IndexError"].count_previous_7d) == (1, 2)
    assert by_error["TypeError"].state == "fixed"
    assert by_error["RuntimeError"].state == "dormant"


def test_states_per_model_and_what_changed(history_tree, cache_dir):
    index = LogIndex(history_tree, cache_dir)
    per_model = fingerprint_states(index, as_of=AS_OF, by_model=True)
    value_errors = per_model[per_model["example_error"].str.startswith("ValueError")]
    assert dict(zip(value_errors["ai_model"], value_errors["state"], strict=True)) == {
        "model-a": "fixed",
        "model-b": "new",
    }
    week = what_changed(index, as_of=AS_OF)
    assert [e.split(":")[0] for e in week.new["example_error"]] == ["ZeroDivisionError"]
    assert [e.split(":")[0] for e in week.regressed["example_error"]] == ["ValueError"]
    assert not week.movers.empty and week.movers["change"].abs().is_monotonic_decreasing


def test_abandoned_sessions_and_silent_successes(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    write_record(logs, log_id="old", session_id="OLD", when=AS_OF - timedelta(hours=3))
    write_record(logs, log_id="recent", session_id="NEW", when=AS_OF - timedelta(minutes=10))
    write_record(logs, log_id="done-f", session_id="DONE", when=AS_OF - timedelta(hours=5))
    write_record(logs, log_id="done-ok", session_id="DONE", status="success", when=AS_OF - timedelta(hours=4))
    write_record(logs, log_id="quiet", session_id="QUIET", status="success", output_files=[])
    index = LogIndex(logs, cache_dir)
    abandoned = sessions.abandoned_sessions(index, as_of=AS_OF)
    assert list(abandoned["session_id"]) == ["OLD"]
    assert abandoned["idle_hours"].iloc[0] == 3.0
    assert list(sessions.silent_successes(index)["log_id"]) == ["quiet"]


def test_the_report_holds_the_newest_of_its_growing_lists_with_their_totals(tmp_path, cache_dir, monkeypatch):
    """Abandoned sessions and silent successes grow with the tree: the full report holds the newest
    REPORT_LIST_ROWS of each, most recent first, and how many there are in all (``..._total``)."""
    from loaders.outputs import sections as report_sections
    from loaders.outputs.report import analysis_report

    logs = tmp_path / "logs"
    for n in range(5):
        write_record(logs, log_id=f"gone-{n}", session_id=f"GONE{n}", when=AS_OF - timedelta(hours=2 + n))
        write_record(
            logs,
            log_id=f"quiet-{n}",
            session_id=f"Q{n}",
            status="success",
            output_files=[],
            when=AS_OF - timedelta(hours=n),
        )
    monkeypatch.setattr(report_sections, "REPORT_LIST_ROWS", 2)
    monkeypatch.setattr("loaders.outputs.report.REPORT_LIST_ROWS", 2)
    index = LogIndex(logs, cache_dir)
    full = analysis_report(index, as_of=AS_OF)
    assert [row["session_id"] for row in full["abandoned_sessions"]] == ["GONE0", "GONE1"]
    assert full["abandoned_sessions_total"] == 5
    assert [row["log_id"] for row in full["silent_successes"]] == ["quiet-0", "quiet-1"]
    assert full["silent_successes_total"] == 5
    everything = sessions.abandoned_sessions(index, as_of=AS_OF)
    assert len(everything) == 5 and "total" not in everything.columns
    assert sessions.abandoned_sessions(index, as_of=AS_OF - timedelta(days=30), limit=2).attrs["total"] == 0


def test_inferred_sessions_recover_stripped_links(tmp_path, cache_dir):
    logs = tmp_path / "logs"
    counts = generate_tree(logs, sessions=400, days=20, seed=21)
    truth = strip_links(logs).session_of
    index = LogIndex(logs, cache_dir)
    index.refresh()
    assert index.sessions_inferred  # almost every attempt stands alone: inference is on by default
    inferred = dict(index.cursor().execute("SELECT log_id, session_id FROM attempts").fetchall())
    true_pairs, found_pairs = same_session_pairs(truth), same_session_pairs(inferred)
    precision = len(true_pairs & found_pairs) / len(found_pairs)
    recall = len(true_pairs & found_pairs) / len(true_pairs)
    print(f"inferred sessions: precision {precision:.3f}, recall {recall:.3f} over {len(true_pairs)} linked pairs")
    assert precision >= 0.9 and recall >= 0.9
    summary = metrics.summary(index)
    assert abs(summary.sessions - counts.sessions) <= counts.sessions * 0.05
    assert abs(summary.fixed_failures - counts.fixed_failures) <= counts.fixed_failures * 0.1
    index.set_session_mode("linked")
    assert metrics.summary(index).sessions == counts.failures + counts.successes
    assert metrics.summary(index).fixed_failures == 0


def test_linked_trees_keep_their_sessions(demo_tree, cache_dir):
    root, counts = demo_tree
    index = LogIndex(root, cache_dir)
    index.refresh()
    assert not index.sessions_inferred
    assert metrics.summary(index).sessions == counts.sessions


def test_unknown_category_under_five_percent(demo_tree, tmp_path, cache_dir):
    root, _ = demo_tree
    derived = error_categories(LogIndex(root, cache_dir)).set_index("category")
    unknown = derived["count"].get("unknown", 0)
    assert unknown / derived["count"].sum() < 0.05
    # A tree shaped like the original's: NameErrors stored as unknown by the keyword classifier.
    logs = tmp_path / "original"
    for n in range(12):
        write_record(logs, log_id=f"n{n}", error_category="unknown")
    for n in range(15):
        write_record(
            logs,
            log_id=f"i{n}",
            error_category="import_error",
            error_type="ModuleNotFoundError",
            stderr="ModuleNotFoundError: No module named 'cv2'\n",
        )
    categories = error_categories(LogIndex(logs, tmp_path / "c2"), which="derived").set_index("category")
    stored = error_categories(LogIndex(logs, tmp_path / "c3"), which="stored").set_index("category")
    assert stored.loc["unknown", "count"] == 12
    assert "unknown" not in categories.index
    assert categories.loc["name_error", "count"] == 12


def test_domain_configuration_changes_bridge_kinds_and_tracked_libraries(tmp_path, cache_dir, monkeypatch):
    from loaders.analysis.errors import library_issues
    from loaders.outputs import sections as report
    from loaders.text import domain

    logs = tmp_path / "logs"
    write_record(
        logs,
        log_id="b1",
        code="from TileKit import Tiles\nimport numpy\nimport cv2\n",
        error_message="bad tile grid",
        stderr="AttributeError: module 'cv2' has no attribute 'grid'\n",
    )
    index = LogIndex(logs, cache_dir)
    assert report.bridge_report(index)["examples"] == []  # the default bridge module is MapsBridge
    config = tmp_path / "domain.json"
    config.write_text(
        json.dumps(
            {"bridge_module": "TileKit", "bridge_issue_kinds": [["grid", ["grid"]]], "tracked_libraries": ["cv2"]}
        )
    )
    monkeypatch.setenv("FIXTRAIL_DOMAIN", str(config))
    domain.current_domain.cache_clear()
    try:
        index = LogIndex(logs, cache_dir)
        assert index.refresh().rebuilt_because  # indexing settings changed: the index is rebuilt
        assert [e["category"] for e in report.bridge_report(index)["examples"]] == ["grid"]
        assert list(library_issues(index)["library"]) == ["cv2"]
    finally:
        monkeypatch.delenv("FIXTRAIL_DOMAIN")
        domain.current_domain.cache_clear()


def _same_changes(first: Any, second: Any) -> bool:
    """Two transition_changes() frames hold the same pairs with the same changes, in the same order."""
    columns = ["failure_path", "next_path", *CHANGE_COLUMNS]
    return first[columns].astype(str).equals(second[columns].astype(str))


@pytest.fixture
def started_pools(monkeypatch) -> list:
    """The worker pools the transitions start during the test, in order."""
    pools = []

    class CountedPool(transitions.WorkerPool):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(transitions, "WorkerPool", CountedPool)
    return pools


@pytest.mark.skipif(worker_count() < 2, reason="one CPU: the changes are never worked out in workers")
def test_changes_worked_out_by_the_parse_workers_match_those_worked_out_here(recipe_tree, tmp_path, monkeypatch):
    here = transition_changes(LogIndex(recipe_tree, tmp_path / "here"))
    monkeypatch.setattr(transitions, "PARALLEL_CHANGES", 1)
    monkeypatch.setattr(transitions, "CHANGES_PER_TASK", 3)  # several pieces, answered in any order
    monkeypatch.setattr(transitions, "MIN_PIECE", 1)
    in_workers = transition_changes(LogIndex(recipe_tree, tmp_path / "workers"))
    assert len(here) == len(in_workers) == 19
    assert _same_changes(here, in_workers)
    assert any("skimage" in added for added in in_workers["added_imports"])


@pytest.mark.skipif(worker_count() < 2, reason="one CPU: the changes are never worked out in workers")
def test_workers_take_the_rest_when_the_estimate_was_low(recipe_tree, tmp_path, monkeypatch, started_pools):
    """The estimate of missing changes counts every recorded one, so it runs low for a filter: once
    PARALLEL_CHANGES have been worked out here, the parse workers take the rest (same changes)."""
    here = transition_changes(LogIndex(recipe_tree, tmp_path / "here"))
    monkeypatch.setattr(transitions, "_likely_missing", lambda *_: 0)  # the estimate is wrong
    monkeypatch.setattr(transitions, "PARALLEL_CHANGES", 4)
    monkeypatch.setattr(transitions, "MIN_PIECE", 2)
    monkeypatch.setattr(transitions, "CHANGES_PER_TASK", 2)
    index = LogIndex(recipe_tree, tmp_path / "late")
    index.cursor()  # loaded
    with index.index_file() as connection, connection.cursor() as cursor:
        assert transitions.record_missing_changes(index, cursor) == 19
    assert len(started_pools) == 1 and all(worker.poll() is not None for worker in started_pools[0]._procs)
    assert _same_changes(here, transition_changes(index))


def test_a_reader_left_early_leaves_the_index_file_whole(recipe_tree, cache_dir, monkeypatch):
    """Leaving the transitions' batches before their end (an error in the tally) closes the reader:
    the index file is attached again as it was, not taken for unreadable and rebuilt."""
    index = LogIndex(recipe_tree, cache_dir)
    rules = fix_rules(index)
    monkeypatch.setattr(transitions, "BATCH_ROWS", 2)
    with pytest.raises(RuntimeError, match="tally failed"), transitions.changed_transitions(index) as batches:
        next(iter(batches))
        raise RuntimeError("tally failed")
    assert index.refresh(full=True).rebuilt_because is None
    with index.index_file() as connection:
        assert connection.execute("SELECT count(*) FROM idx.transition_changes").fetchone()[0] == 19
    assert fix_rules(index).equals(rules)


def test_missing_changes_are_read_and_recorded_a_piece_at_a_time(recipe_tree, tmp_path, monkeypatch):
    """The missing transitions stream from their query a piece at a time, each recorded as it comes
    (not one Arrow table of them all), with the same changes as in one piece; the transitions with
    their changes stream too, in batches of BATCH_ROWS."""
    whole = transition_changes(LogIndex(recipe_tree, tmp_path / "whole"))
    recorded = []
    record = transitions._record_changes

    def counted(connection, piece, tokens):
        recorded.append(piece.num_rows)
        record(connection, piece, tokens)

    monkeypatch.setattr(transitions, "_record_changes", counted)
    monkeypatch.setattr(transitions, "PARALLEL_CHANGES", 10**9)  # here, not in workers
    monkeypatch.setattr(transitions, "MIN_PIECE", 4)
    monkeypatch.setattr(transitions, "CHANGES_PER_TASK", 4)
    monkeypatch.setattr(transitions, "BATCH_ROWS", 5)
    index = LogIndex(recipe_tree, tmp_path / "pieces")
    with transitions.changed_transitions(index) as batches:
        assert [batch.num_rows for batch in batches] == [5, 5, 5, 4]
    assert recorded == [4, 4, 4, 4, 3]
    pieces = transition_changes(index)  # all recorded now: read back, nothing worked out again
    assert len(recorded) == 5
    assert _same_changes(whole, pieces)


@pytest.mark.skipif(worker_count() < 2, reason="one CPU: the changes are never worked out in workers")
def test_workers_started_early_for_changes_that_were_recorded_are_stopped(
    recipe_tree, cache_dir, monkeypatch, started_pools
):
    index = LogIndex(recipe_tree, cache_dir)
    rules = fix_rules(index)  # records every transition's change
    monkeypatch.setattr(transitions, "PARALLEL_CHANGES", 1)
    with index.index_file() as connection, connection.cursor() as cursor:
        assert transitions._likely_missing(cursor, "true", []) == 0
        monkeypatch.setattr(transitions, "_likely_missing", lambda *_: 1000)  # the estimate is wrong
        assert transitions.record_missing_changes(index, cursor) == 0
    assert len(started_pools) == 1
    assert all(worker.poll() is not None for worker in started_pools[0]._procs)  # stopped, not left running
    assert fix_rules(index).equals(rules)


def test_a_failing_section_stops_the_fix_rules_instead_of_waiting_for_them(recipe_tree, cache_dir, monkeypatch):
    from loaders.outputs import sections as report

    index = LogIndex(recipe_tree, cache_dir)
    index.cursor()
    first_piece, pieces = threading.Event(), []
    real_token_changes = transitions.token_changes

    def slow_piece(pairs, read_record):
        pieces.append(len(pairs))
        first_piece.set()
        time.sleep(0.05)
        return real_token_changes(pairs, read_record)

    def failing_section(*_args, **_kwargs):
        first_piece.wait(10)
        raise ValueError("a section failed")

    monkeypatch.setattr(transitions, "CHANGES_PER_TASK", 1)  # 19 pieces of one transition each
    monkeypatch.setattr(transitions, "PARALLEL_CHANGES", 10**6)  # worked out in this process
    monkeypatch.setattr(transitions, "token_changes", slow_piece)
    monkeypatch.setattr(report, "common_errors", failing_section)
    with pytest.raises(ValueError, match="a section failed"):
        report.compute_sections(index, ALL)
    assert 1 <= len(pieces) < 19  # stopped after the piece in hand, not after every file was read
    monkeypatch.undo()
    changes = transition_changes(index)  # the rest is worked out on the next demand
    assert len(changes) == 19 and changes["added_tokens"].notna().all()


@pytest.mark.skipif(worker_count() < 2, reason="one CPU: the changes are never worked out in workers")
def test_a_stopped_worker_pool_ends_without_waiting_for_the_answers_in_hand(recipe_tree, cache_dir):
    from loaders.ingest.parsing import ChangesTask, WorkerPool

    moves = transitions.transitions(LogIndex(recipe_tree, cache_dir))
    pairs = list(zip(moves["failure_path"], moves["next_path"], strict=True)) * 1000  # 19,000 a task
    stop = threading.Event()
    pool = WorkerPool(2)
    try:
        tasks = (ChangesTask(number, str(recipe_tree), pairs) for number in range(4))
        answers = pool.changes(tasks, ahead=4, stopped=stop.is_set)
        stop.set()
        assert list(answers) == []  # four tasks handed out, none answered yet: not waited for
    finally:
        pool.close(kill=True)
    assert all(worker.poll() is not None for worker in pool._procs)


def test_recorded_changes_are_what_the_two_codes_say(recipe_tree, cache_dir):
    # The imports come from the index's column and the tokens from the files: together they must be
    # what describe_change() makes of the two codes, for every transition.
    changes = transition_changes(LogIndex(recipe_tree, cache_dir))
    assert len(changes) == 19
    for row in changes.to_dict("records"):
        before, after = (json.loads(Path(row[key]).read_text())["code"] for key in ("failure_path", "next_path"))
        assert {column: list(row[column]) for column in CHANGE_COLUMNS} == describe_change(before, after)
    assert sum(bool(removed) for removed in changes["removed_imports"]) == 11  # cv2 -> skimage tries


def test_a_missing_library_a_recipe_replaces_is_one_card_with_the_recipe(recipe_tree, cache_dir):
    from loaders.outputs.report_sections import report_sections

    index = LogIndex(recipe_tree, cache_dir)
    sections = report_sections(index)
    advice = sections["recommendations"]
    # one lesson, one card: the recipe says cv2 is not installed and what worked instead; no separate
    # library card repeats it
    about_cv2 = [text for text in advice if "could not be imported" in text or text.startswith("LIBRARY ISSUE")]
    assert len(about_cv2) == 1, advice
    assert about_cv2[0].startswith("FIX RECIPE (cv2 -> skimage"), about_cv2[0]
    assert "Don't import cv2: it is not installed; use skimage instead" in about_cv2[0]
    assert about_cv2[0].endswith("cv2 could not be imported in 11 failures."), about_cv2[0]
    # Fixes are counted by shape (loaders.analysis.fixes.fix_shapes): every fixed failure is in one strategy.
    fixed = metrics.summary(index).fixed_failures
    assert fixed > 11 and sum(strategy["fix_count"] for strategy in sections["fix_strategies"]) == fixed


def test_a_missing_library_without_a_recipe_keeps_its_own_card(tmp_path, cache_dir):
    """Two cv2 -> skimage fixes are below a recipe's minimum: the library's card says what fixes used."""
    from loaders.outputs.report_sections import report_sections

    logs = tmp_path / "logs"
    for n in range(2):
        t = AS_OF - timedelta(days=2, hours=n)
        _fail(logs, f"cv{n}", f"CV{n}", t, CV2, "ModuleNotFoundError: No module named 'cv2'", "ModuleNotFoundError")
        _fix(logs, f"cv{n}-ok", f"CV{n}", t + timedelta(minutes=2), SKIMAGE, f"cv{n}")
    advice = report_sections(LogIndex(logs, cache_dir))["recommendations"]
    library = [text for text in advice if text.startswith("LIBRARY ISSUE: cv2")]
    assert library == [
        "LIBRARY ISSUE: cv2 could not be imported in 2 failures. Tell the model it is not installed. "
        "Fixes used skimage instead (2 fixes)."
    ], advice
    assert not any(text.startswith("FIX RECIPE (cv2") for text in advice)


def test_a_fix_seen_once_is_still_a_lesson(tmp_path, cache_dir):
    """Issue 31, item 5: on a sparse tree, one inferred fix gives an "Instead:" line (low confidence, with
    its session) in the AI context and a recipe, and no learning says only "code revision"."""
    from loaders.analysis.recipes import fix_rules
    from loaders.outputs.context import ai_context
    from loaders.outputs.report_sections import report_sections
    from loaders.store.index import LogIndex

    logs = tmp_path / "logs"
    when = AS_OF - timedelta(days=1)
    write_record(
        logs,
        log_id="once",
        session_id="ONCE",
        when=when,
        code=CV2_CODE,
        error_type="ModuleNotFoundError",
        stderr="ModuleNotFoundError: No module named 'cv2'\n",
    )
    later = when + timedelta(minutes=5)
    write_record(logs, log_id="fixed", session_id="ONCE", status="success", code=SKIMAGE_CODE, when=later)
    write_record(logs, log_id="other", session_id="OTHER", when=when, code="x = 1\ny = 2\n")  # fixed by nothing
    # fixed with no import or size change: the original's "code revision"
    write_record(logs, log_id="rev1", session_id="REV", when=when, code="import numpy\nx = 1\n")
    write_record(logs, log_id="rev2", session_id="REV", status="success", code="import numpy\nx = 2\n", when=later)
    index = LogIndex(logs, cache_dir)
    assert fix_rules(index).empty  # two fixes make a recipe of the report's default
    once = fix_rules(index, min_fixes=1)
    assert "cv2 -> skimage: seen once (low confidence)" in list(once["text"])
    context = ai_context(index)
    assert "Instead: Don't import cv2: it is not installed; use skimage instead (seen once, in session ONCE" in context
    sections = report_sections(index)
    assert any("seen once" in rule["text"] for rule in sections["fix_rules"])
    assert any("code revision" in s["changes"]["summary"] for s in sections["fix_strategies"])  # the original key
    assert "code revision" not in sections["ai_learning_summary"]
