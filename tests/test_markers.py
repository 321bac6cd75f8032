"""Change markers: round trip through analysis/markers.json (atomic, the only write into the tree),
the CLI's mark and markers, cohorts before and after a marker, readers that survive a broken file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from loaders.analysis.cohorts import parse_cohort
from loaders.analysis.compare import compare
from loaders.analysis.metrics import summary
from loaders.annotations.markers import add_marker, markers_file, read_markers
from tests.conftest import AS_OF, write_sessions
from tests.test_cli import run_cli


def test_markers_round_trip(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    first = add_marker(logs, "system_context v12", datetime(2026, 11, 20, 9, 0))
    add_marker(logs, "  model   switch ", datetime(2026, 11, 10, 8, 30))
    found = read_markers(logs)
    assert [(m.label, m.at) for m in found] == [
        ("model switch", datetime(2026, 11, 10, 8, 30)),
        ("system_context v12", datetime(2026, 11, 20, 9, 0)),
    ]
    assert found[1] == first and first.created_at is not None
    data = json.loads(markers_file(logs).read_text(encoding="utf-8"))
    assert [entry["at"] for entry in data["markers"]] == ["2026-11-20T09:00:00", "2026-11-10T08:30:00"]
    # no temporary file left (the lock of concurrent marks stays, hidden)
    assert sorted(p.name for p in (logs / "analysis").iterdir()) == [".markers.lock", "markers.json"]


def test_an_offset_is_kept_as_local_time(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    at = datetime.fromisoformat("2026-11-20T09:00:00+00:00")
    assert add_marker(logs, "v2", at).at == at.astimezone().replace(tzinfo=None)


@pytest.mark.parametrize(
    "content", ["", "{not json", "[]", '{"markers": "x"}', '{"markers": [{"label": "x", "at": "soon"}, 3]}']
)
def test_a_broken_markers_file_reads_as_none(tmp_path, content):
    path = tmp_path / "analysis" / "markers.json"
    path.parent.mkdir()
    path.write_text(content, encoding="utf-8")
    assert read_markers(tmp_path) == []


def test_an_empty_label_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a label"):
        add_marker(tmp_path, "   ")
    assert not markers_file(tmp_path).exists()


def test_cli_mark_and_markers(small_tree, cache_dir):
    before = run_cli("--logs-dir", str(small_tree), "--json", "summary").stdout
    result = run_cli("--logs-dir", str(small_tree), "mark", "system_context v12", "--at", "2025-12-15T10:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("✓ Marker 'system_context v12' at 2025-12-15 10:00:00")
    listed = json.loads(run_cli("--logs-dir", str(small_tree), "--json", "markers").stdout)
    assert [(m["label"], m["at"]) for m in listed] == [("system_context v12", "2025-12-15T10:00:00")]
    assert "2025-12-15 10:00:00  system_context v12" in run_cli("--logs-dir", str(small_tree), "markers").stdout
    # the markers file is not a log record: the numbers do not move, nothing is skipped
    after = run_cli("--logs-dir", str(small_tree), "--json", "summary").stdout
    assert {k: v for k, v in json.loads(after).items() if k != "as_of"} == {
        k: v for k, v in json.loads(before).items() if k != "as_of"
    }
    bad = run_cli("--logs-dir", str(small_tree), "mark", "x", "--at", "tomorrow")
    assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr


def test_before_and_after_a_marker(tmp_path, index_of):
    logs = tmp_path / "logs"
    change = AS_OF - timedelta(days=5)
    # 50 sessions before the change (20 at first try), 50 after it (45 at first try)
    write_sessions(logs, "m", 50, 20, change - timedelta(hours=60), prefix="old", spacing=timedelta(hours=1))
    write_sessions(logs, "m", 50, 45, change + timedelta(minutes=1), prefix="new", spacing=timedelta(hours=1))
    add_marker(logs, "system_context v12", change)
    index = index_of(logs)
    markers = read_markers(logs)
    a, b = parse_cohort("before=system_context v12", markers), parse_cohort("after=system_context v12", markers)
    first = compare(index, a, b).metrics["first_try_success_rate"]
    assert (first.a, first.b, first.n_a, first.n_b) == (40.0, 90.0, 50, 50)
    assert first.significant
    assert summary(index, as_of=AS_OF).sessions == 100
