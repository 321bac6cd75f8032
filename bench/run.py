"""Fixtrail's benchmark: every figure of the performance issue, as a ratio to a baseline measured in the same run.

Usage: python -m bench.run [--sessions 20000] [--runs 3] [--out bench/results/latest.json]

It writes a tree with the project's generator (the retry-heavy shape of the issue's measurement),
then measures, each as the median of --runs runs (processes are timed whole, and their peak RSS
read from the kernel):
  baseline   a json.loads loop over every attempt file into pandas (bench/baseline.py)
  duckdb     DuckDB read_text + from_json with an explicit schema (bench/duckdb_path.py)
  cold       `analyze_logs.py --json summary` with an empty index directory
  warm       the same again; and the load call alone in a fresh process (CLI and dashboard modes)
  incremental  after 500 new files and 100 failure files rewritten in place with fixed_by
  dashboard  AppTest: the Overview's run warm, and the Sessions page with one session open
  api        p50 and p99 of /api/logs/summary and /api/logs/session/{id}, 200 requests each, warm
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import mutations
from loaders.demo import RETRY_HEAVY_SHAPE, generate_tree

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The printed table: (label, figure, field, ratio to the baseline's "process" or "load", target, peak RSS shown).
TABLE_ROWS: tuple[tuple[str, str, str, str | None, float | None, bool], ...] = (
    ("baseline: json.loads loop -> pandas (process)", "baseline", "process", "process", None, True),
    ("baseline: the load loop alone", "baseline", "load", "load", None, False),
    ("DuckDB read_text + from_json (load)", "duckdb_path", "load", "load", None, True),
    ("cold: CLI --json summary, empty index", "cold", "wall", "process", 1.0, True),
    ("warm: CLI --json summary", "warm", "wall", "process", 0.5, True),
    ("warm: load call (CLI, on the index file)", "warm_load_file", "load", "load", 0.1, True),
    ("warm: load call (dashboard, in-memory copy)", "warm_load_memory", "load", "load", 0.1, True),
    ("incremental: load call (+500 new, 100 rewritten)", "incremental", "load", "load", 0.2, True),
    ("incremental: CLI --json summary", "incremental", "process", "process", None, False),
    ("dashboard: Overview run, warm (AppTest)", "dashboard", "overview", None, None, False),
    ("dashboard: Sessions, one session open, warm", "dashboard", "session", None, None, False),
    ("api: /api/logs/summary p50", "api", "summary_p50", None, None, False),
    ("api: /api/logs/summary p99", "api", "summary_p99", None, None, False),
    ("api: /api/logs/session/{id} p50", "api", "session_p50", None, None, False),
    ("api: /api/logs/session/{id} p99", "api", "session_p99", None, None, False),
)


def timed_process(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a command; its wall time, its own peak RSS in MB (os.wait4) and, if it printed JSON, that."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {stderr.decode()[-2000:]}")
    result = {"wall": wall, "rss_mb": usage.ru_maxrss / 1024}
    with contextlib.suppress(ValueError):  # not every command prints JSON
        result["printed"] = json.loads(stdout)
    return result


def median_of(runs: int, measure) -> dict:  # type: ignore[no-untyped-def]
    """Run ``measure`` ``runs`` times; the median of each numeric field, and the max RSS."""
    results = [measure(i) for i in range(runs)]
    keys = {k for r in results for k, v in r.items() if isinstance(v, (int, float)) and v is not None}
    summary = {k: statistics.median(r[k] for r in results if r.get(k) is not None) for k in keys}
    if any(r.get("rss_mb") for r in results):
        summary["rss_mb"] = max(r["rss_mb"] for r in results if r.get("rss_mb"))
    return summary


def main(argv: list[str] | None = None) -> int:
    """Build the tree, measure everything, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--skip-dashboard", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fixtrail-bench-"))
    try:
        figures = measure_all(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(figures)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


def measure_all(work: Path, args: argparse.Namespace) -> dict:
    logs, cache = work / "logs", work / "cache"
    started = time.perf_counter()
    counts = generate_tree(logs, sessions=args.sessions, days=60, seed=20, shape=RETRY_HEAVY_SHAPE)
    attempt_files = counts.failures + counts.successes
    attempt_bytes = sum(p.stat().st_size for p in logs.glob("*es/*/*.json"))
    tree = {
        "sessions": counts.sessions,
        "attempt_files": attempt_files,
        "session_files": counts.sessions,
        "attempt_mb": attempt_bytes / 1e6,
        "generated_seconds": time.perf_counter() - started,
    }
    print(f"tree: {tree}", flush=True)
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": str(cache)}
    cli = [PYTHON, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), "--json", "summary"]
    figures: dict = {"tree": tree, "runs": args.runs}

    def baseline(_: int) -> dict:
        run = timed_process([PYTHON, "-m", "bench.baseline", str(logs)])
        return {"process": run["wall"], "load": run["printed"]["seconds"], "rss_mb": run["rss_mb"]}

    def duckdb_path(_: int) -> dict:
        run = timed_process([PYTHON, "-m", "bench.duckdb_path", str(logs)])
        return {"process": run["wall"], "load": run["printed"]["seconds"], "rss_mb": run["rss_mb"]}

    def cold(_: int) -> dict:
        shutil.rmtree(cache, ignore_errors=True)
        return timed_process(cli, env)

    def warm(_: int) -> dict:
        return timed_process(cli, env)

    def load_call(mode: str):  # type: ignore[no-untyped-def]
        def measure(_: int) -> dict:
            run = timed_process([PYTHON, "-m", "bench.load_call", str(logs), str(cache), mode], env)
            return {"load": run["printed"]["seconds"], "rss_mb": run["rss_mb"]}

        return measure

    def incremental(run_number: int) -> dict:
        mutations.add_and_fix(logs, work / f"extra-{run_number}", new_files=500, fixed=100, seed=run_number)
        call = timed_process([PYTHON, "-m", "bench.load_call", str(logs), str(cache), "file"], env)
        mutations.add_and_fix(logs, work / f"extra-b{run_number}", new_files=500, fixed=100, seed=100 + run_number)
        process = timed_process(cli, env)
        return {
            "load": call["printed"]["seconds"],
            "parsed": call["printed"]["parsed"],
            "process": process["wall"],
            "rss_mb": max(call["rss_mb"], process["rss_mb"]),
        }

    steps = [
        ("baseline", baseline),
        ("duckdb_path", duckdb_path),
        ("cold", cold),
        ("warm", warm),
        ("warm_load_file", load_call("file")),
        ("warm_load_memory", load_call("memory")),
        ("incremental", incremental),
    ]
    for name, measure in steps:
        figures[name] = median_of(args.runs, measure)
        print(f"{name}: {figures[name]}", flush=True)
    if not args.skip_dashboard:
        figures["dashboard"] = timed_process([PYTHON, "-m", "bench.dashboard_timing", str(logs), str(args.runs)], env)[
            "printed"
        ]
        print(f"dashboard: {figures['dashboard']}", flush=True)
    figures["api"] = timed_process([PYTHON, "-m", "bench.api_timing", str(logs), "200"], env)["printed"]
    print(f"api: {figures['api']}", flush=True)
    return figures


def print_table(figures: dict) -> None:
    """The figures, each with its ratio to the baseline and the target it is held to (TABLE_ROWS)."""
    print(f"\n{'figure':52} {'seconds':>9} {'peak RSS':>9} {'ratio':>7} {'target':>7}")
    for label, figure, field, relative_to, target, show_rss in TABLE_ROWS:
        if figure not in figures:  # the dashboard's figures with --skip-dashboard
            continue
        seconds = figures[figure][field]
        rss = figures[figure].get("rss_mb") if show_rss else None
        rss_text = f"{rss:.0f} MB" if rss else ""
        ratio_text = f"{seconds / figures['baseline'][relative_to]:.2f}x" if relative_to else ""
        target_text = f"<={target}x" if target is not None else ""
        print(f"{label:52} {seconds:9.3f} {rss_text:>9} {ratio_text:>7} {target_text:>7}")


if __name__ == "__main__":
    raise SystemExit(main())
