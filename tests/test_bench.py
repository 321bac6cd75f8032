"""The benchmark's own parts that decide a figure or a mark: the read-and-parse floor and the targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.run import Target, target_met, target_text, warm_report_limit
from loaders.demo.trees import DemoCounts
from loaders.ingest.parsing import worker_count

ROOT = Path(__file__).resolve().parents[1]


def test_floor_reads_and_parses_every_record_file(demo_tree: tuple[Path, DemoCounts]) -> None:
    root, counts = demo_tree
    run = subprocess.run(
        [sys.executable, "-m", "bench.floor", str(root)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    printed = json.loads(run.stdout)
    written = counts.failures + counts.successes + counts.sessions
    assert printed["files"] == printed["parsed"] == written == len(list(root.glob("*/**/*.json")))
    assert printed["processes"] == worker_count()
    assert printed["seconds"] > 0


def test_a_target_against_a_multiple_of_another_figure() -> None:
    figures = {"floor": {"process": 0.5}}
    stretch = Target("value", "floor.process", factor=2.0, name="stretch")
    assert target_text(stretch, "s") == "<=2x floor process"
    assert target_met(stretch, {"value": 0.99}, figures) is True
    assert target_met(stretch, {"value": 1.01}, figures) is False
    assert target_met(stretch, {"value": 1.0}, {}) is None  # the floor was not measured
    assert target_text(Target("value", "cold.wall"), "s") == "<=cold wall"


def test_the_warm_report_target_follows_the_tree_size() -> None:
    assert warm_report_limit(20_000) == warm_report_limit(1_000) == 0.5
    assert warm_report_limit(100_000) == warm_report_limit(500_000) == 2.0
    assert 0.5 < warm_report_limit(60_000) < 2.0
    figures = {"limits": {"report_warm": 2.0}}
    warm = Target("value", "limits.report_warm")
    assert target_text(warm, "s", figures) == "<=2 s"
    assert target_met(warm, {"value": 0.53}, figures) is True
    assert target_met(warm, {"value": 2.1}, figures) is False


def test_the_floor_passes_over_what_it_cannot_parse_and_refuses_a_missing_tree(tmp_path: Path) -> None:
    day = tmp_path / "logs" / "failures" / "2026-11-01"
    day.mkdir(parents=True)
    (day / "broken.json").write_text("{not json")
    (day / "list.json").write_text("[1, 2]")
    (day / "ok.json").write_text('{"log_id": "a"}')
    (day / ".hidden.json").write_text("{}")  # names a load does not read (loaders.ingest.tree.is_candidate)
    (day / "ok.tmp.json").write_text("{}")
    run = subprocess.run(
        [sys.executable, "-m", "bench.floor", str(tmp_path / "logs")], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) | {"seconds": 0} == {
        "seconds": 0,
        "files": 3,
        "parsed": 1,
        "processes": worker_count(),
    }
    missing = subprocess.run(
        [sys.executable, "-m", "bench.floor", str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert "usage: python -m bench.floor LOGS_DIR" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_scale_table_judges_minimums_and_maximums() -> None:
    from bench.scale import _limit_text, verdict

    figures = {"serve": {"summary_rps": 250.0, "list_p99": 0.1}, "floor": {"wall": 2.0}, "cold": {"wall": 4.0}}
    assert verdict(figures, "serve", "summary_rps", (300.0, "requests/s at least")) == "MISS"
    assert verdict(figures, "serve", "list_p99", (0.2, "s")) == "PASS"
    assert verdict(figures, "cold", "wall", (2.5, "x floor")) == "PASS"  # 4.0 <= 2.5 x 2.0
    assert verdict(figures, "new_files", "wall", (1.0, "s")) == ""  # not measured
    assert _limit_text((300.0, "requests/s at least")) == "≥ 300 requests/s"
    assert _limit_text((1.5, "s")) == "≤ 1.5 s"
