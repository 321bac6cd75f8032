"""How cost grows with the tree: the scale issue's targets at several sizes, up to 1,000,000 sessions.

Usage: python -m bench.scale [--sizes 20000,100000,300000,1000000] [--trees DIR] [--runs 3]
                             [--out bench/results/scale.json]

Each size's tree is generated once into ``--trees`` (default ``$FIXTRAIL_BENCH_TREES``, else
``fixtrail-bench-trees`` beside the clone: outside the repository; 1,000,000 sessions is about 11 GB
and 12 minutes to write) and reused by later runs. Per size, every figure a process (wall and CPU
seconds, peak RSS, from the kernel):
  floor      every record file read and parsed (bench/floor.py)
  baseline   a json.loads loop over every attempt and session file into pandas (bench/baseline.py)
  cold       `analyze_logs.py --json summary` with an empty index directory
  report     `--json recommendations`: right after the cold load, then warm (median of --runs)
  warm       `--json summary` again, nothing changed (median of --runs)
  new files  `--json summary` after 500 new attempt files (moved in, then taken out again untimed)
  serve      the dashboard and the API on the index the cold load built (bench/scale_serve.py): the
             dashboard's warm-up, every page drawn in Chromium (first and repeat visits), its memory;
             the API's /summary at 8 requests in flight and its list routes' p99 (``--no-serve``: not)
The table gives each figure at each size with its target's PASS/MISS, then the growth: the slope of
log(figure) over log(sessions) between the smallest and the largest size (1 grows in proportion to
the tree, 0 stays flat).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.run import PYTHON, ROOT, compile_project, machine, machine_line, median_of, read_once, timed_process
from loaders.demo.trees import RETRY_HEAVY_SHAPE, generate_tree

MIB = 1024 * 1024
NEW_FILES = 500
NEW_FILES_DIR = "bench-new-files"
TREE_STAMP = "fixtrail-bench-tree.json"
# (figure, field, label, target: (limit, what the limit is: "s", "MiB", or "x floor"/"x cold"))
ROWS: tuple[tuple[str, str, str, tuple[float, str] | None], ...] = (
    ("floor", "wall", "floor: read + parse every record file", None),
    ("baseline", "wall", "baseline: json.loads loop -> pandas", None),
    ("cold", "wall", "cold: CLI summary, empty index", (2.5, "x floor")),
    ("cold", "rss_mb", "cold: peak RSS", (1024.0, "MiB")),
    ("report_first", "wall", "report: first after the cold load", (0.5, "x cold")),
    ("report_first", "rss_mb", "report: first, peak RSS", (1024.0, "MiB")),
    ("warm", "wall", "warm: CLI summary, nothing changed", (0.5, "s")),
    ("warm", "rss_mb", "warm: CLI summary, peak RSS", None),
    ("report_warm", "wall", "report: warm", (1.0, "s")),
    ("new_files", "wall", f"{NEW_FILES} new files: CLI summary", (1.0, "s")),
    ("serve", "warm_up", "dashboard: started on the index, warmed up", None),
    ("serve", "steady_mib", "dashboard: server RSS, steady", (600.0, "MiB")),
    ("serve", "peak_mib", "dashboard: server RSS, peak", (1024.0, "MiB")),
    ("serve", "first_max", "dashboard: slowest page, first visit", (3.0, "s")),
    ("serve", "repeat_max", "dashboard: slowest page, repeat visit", (1.5, "s")),
    ("serve", "summary_rps", "api: /summary, 8 in flight", (300.0, "requests/s at least")),
    ("serve", "list_p99", "api: slowest route's p99, 1 in flight", (0.2, "s")),
)


def default_trees() -> Path:
    """Where trees are kept between runs: $FIXTRAIL_BENCH_TREES, else beside the clone."""
    return Path(os.environ.get("FIXTRAIL_BENCH_TREES") or ROOT.parent / "fixtrail-bench-trees")


def tree_of(trees: Path, sessions: int) -> tuple[Path, dict]:
    """The tree of ``sessions`` sessions under ``trees``, generated unless a finished one is there."""
    folder = trees / f"sessions-{sessions}"
    stamp = folder / TREE_STAMP
    if stamp.exists():
        return folder / "logs", json.loads(stamp.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    counts = generate_tree(folder / "logs", sessions=sessions, days=60, seed=20, shape=RETRY_HEAVY_SHAPE)
    facts = {"sessions": counts.sessions, "attempt_files": counts.failures + counts.successes}
    stamp.write_text(json.dumps(facts))  # written last: a killed generation is generated again
    return folder / "logs", facts


def measure_size(logs: Path, runs: int, serve: bool = True) -> dict:
    """Every figure of one tree (see the module's docstring)."""
    work = Path(tempfile.mkdtemp(prefix="fixtrail-scale-"))
    cache = work / "cache"
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": str(cache)}
    cli = [PYTHON, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), "--json"]
    figures: dict = {}
    try:
        read_once(logs)
        figures["floor"] = _script("bench.floor", logs)
        figures["baseline"] = _script("bench.baseline", logs)
        figures["cold"] = timed_process([*cli, "summary"], env)
        figures["report_first"] = timed_process([*cli, "recommendations"], env)
        figures["warm"] = median_of(runs, lambda _: timed_process([*cli, "summary"], env))
        figures["report_warm"] = median_of(runs, lambda _: timed_process([*cli, "recommendations"], env))
        figures["new_files"] = _new_files(logs, work, cli, env)
        if serve:
            figures["serve"] = _serve(logs, env, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for figure in figures.values():
        figure.pop("printed", None)
    return figures


def _script(module: str, logs: Path) -> dict:
    run = timed_process([PYTHON, "-m", module, str(logs)])
    return {"wall": run["wall"], "cpu": run["cpu"], "rss_mb": run["rss_mb"]}


def _serve(logs: Path, env: dict[str, str], runs: int) -> dict:
    """The dashboard's and the API's figures on the index built above (bench/scale_serve.py)."""
    command = [PYTHON, "-m", "bench.scale_serve", str(logs), str(runs)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"bench.scale_serve failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _new_files(logs: Path, work: Path, cli: list[str], env: dict[str, str]) -> dict:
    """The summary after NEW_FILES new attempt files, in a directory of their own taken out afterwards."""
    scratch = work / "new"
    generate_tree(scratch, sessions=NEW_FILES, days=1, seed=10_001, shape=RETRY_HEAVY_SHAPE)
    folders = [logs / folder / NEW_FILES_DIR for folder in ("failures", "successes")]
    for path in sorted(scratch.glob("*es/*/*.json"))[:NEW_FILES]:  # each into its own folder's directory
        target = logs / path.parent.parent.name / NEW_FILES_DIR
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target / path.name)
    try:
        return timed_process([*cli, "summary"], env)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        timed_process([*cli, "summary"], env)  # the index forgets them again


def verdict(figures: dict, figure: str, field: str, target: tuple[float, str] | None) -> str:
    """PASS or MISS against the row's target ("" without one)."""
    if target is None or figure not in figures:
        return ""
    limit, unit = target
    value = figures[figure][field]
    if unit.endswith("at least"):
        return "PASS" if value >= limit else "MISS"
    if unit == "x floor":
        limit *= figures["floor"]["wall"]
    elif unit == "x cold":
        limit *= figures["cold"]["wall"]
    return "PASS" if value <= limit else "MISS"


def _value(figures: dict, figure: str, field: str) -> str:
    if figure not in figures:
        return "–"
    value = figures[figure][field]
    if field in ("rss_mb", "steady_mib", "peak_mib"):
        return f"{value:,.0f} MiB"
    if field == "summary_rps":
        return f"{value:,.0f}/s"
    cpu = figures[figure].get("cpu")
    return f"{value:.2f} s" + (f" ({cpu:.1f} CPU s)" if cpu is not None else "")


def slope(sizes: list[int], values: list[float]) -> str:
    """log(last/first) / log(size ratio): 1 grows with the tree, 0 stays flat."""
    if len(sizes) < 2 or values[0] <= 0 or values[-1] <= 0:
        return "–"
    return f"{math.log(values[-1] / values[0]) / math.log(sizes[-1] / sizes[0]):.2f}"


def _limit_text(target: tuple[float, str]) -> str:
    """A target as the table says it: "≤ 1 s", "≥ 300 requests/s"."""
    limit, unit = target
    if unit.endswith("at least"):
        return f"≥ {limit:g} {unit.removesuffix(' at least')}"
    return f"≤ {limit:g} {unit}"


def print_table(results: dict[int, dict]) -> None:
    """The growth table: each figure at each size, its PASS/MISS, and its slope."""
    sizes = sorted(results)
    print("\n| figure | target | " + " | ".join(f"{n:,} sessions" for n in sizes) + " | slope |")
    print("|---|---|" + "---:|" * len(sizes) + "---:|")
    for figure, field, label, target in ROWS:
        limit = "" if target is None else _limit_text(target)
        cells = []
        for n in sizes:
            mark = verdict(results[n], figure, field, target)
            cells.append(_value(results[n], figure, field) + (f" {mark}" if mark else ""))
        present = [n for n in sizes if figure in results[n]]
        values = [results[n][figure][field] for n in present]
        print(f"| {label} | {limit} | " + " | ".join(cells) + f" | {slope(present, values)} |")


def main(argv: list[str] | None = None) -> int:
    """Generate or reuse each size's tree, measure it, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000,300000,1000000")
    parser.add_argument("--trees", type=Path, default=default_trees())
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-serve", action="store_true", help="leave out the dashboard's and the API's figures")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = parser.parse_args(argv)
    compile_project()
    info = machine()
    print(machine_line(info), flush=True)
    results: dict[int, dict] = {}
    for sessions in sorted(int(size) for size in args.sizes.split(",")):
        logs, facts = tree_of(args.trees, sessions)
        print(f"tree {logs}: {facts}", flush=True)
        results[sessions] = {"tree": facts, **measure_size(logs, args.runs, serve=not args.no_serve)}
        print(f"{sessions}: {json.dumps(results[sessions])}", flush=True)
    print_table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": info, "results": results}, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
