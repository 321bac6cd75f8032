"""Fixtrail's benchmark: every figure of the performance issue, as a ratio to a baseline measured in the same run.

Usage: python -m bench.run [--sessions 20000] [--runs 3] [--browser-runs 5] [--out bench/results/latest.json]

One module of about 600 lines: the figures, their targets and the table are one script read top
to bottom; the measuring tools it runs are modules of their own (bench/baseline.py, floor.py, ...).

It writes a tree with the project's generator (the retry-heavy shape of the issue's measurement),
then measures, each as the median of --runs runs (processes are timed whole: wall seconds, CPU
seconds and peak RSS read from the kernel):
  baseline   a json.loads loop over every attempt file into pandas (bench/baseline.py)
  duckdb     DuckDB read_text + from_json with an explicit schema (bench/duckdb_path.py)
  floor      every record file (attempts and sessions) read and parsed, nothing kept, in as many
             processes as the load's workers (bench/floor.py): the cold load's stretch is 2x this
  cold       `analyze_logs.py --json summary` with an empty index directory
  report     `analyze_logs.py --json recommendations`: first run right after a cold build, and warm
  warm       the same summary again; and the load call alone in a fresh process (CLI and dashboard modes)
  incremental  after 500 new files and 100 failure files rewritten in place with fixed_by
  dashboard  AppTest: the Overview's run warm, and the Sessions page with one session open
  browser    Chromium: each page fully drawn, first visit after a restart and repeated; a filter; server RSS
  api        p50, p99 and requests/s of five endpoints at 1, 8 and 32 requests in flight, warm
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import mutations
from bench.browser_timing import CHROMIUM
from bench.floor import record_files
from loaders.demo.trees import RETRY_HEAVY_SHAPE, generate_tree

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
API_REQUESTS = 200


@dataclass(frozen=True)
class Target:
    """A limit on a row's value, its ratio to the baseline or its CPU ratio (``on``); ``limit`` is a
    number or another figure's value named "figure.field"."""

    on: str  # "value", "ratio" or "cpu ratio"
    limit: float | str
    at_least: bool = False
    factor: float = 1.0  # the limit is this many times ``limit`` (with a figure named as the limit)
    name: str | None = None  # how the mark names it when missed (else "wall", "CPU" or the unit)


@dataclass(frozen=True)
class Row:
    """One line of the printed table: ``figures[figure][field]`` (a dotted field reads nested figures)."""

    label: str
    figure: str
    field: str
    ratio: str | None = None  # the baseline's field the value is divided by ("process" or "load")
    cpu: str | None = None  # the figure's field holding the CPU seconds of the same processes
    rss: bool = False
    unit: str = "s"
    targets: tuple[Target, ...] = ()


TABLE_ROWS: tuple[Row, ...] = (
    Row("baseline: json.loads loop -> pandas (process)", "baseline", "process", "process", "cpu", True),
    Row("baseline: the load loop alone", "baseline", "load", "load"),
    Row("DuckDB read_text + from_json (load)", "duckdb_path", "load", "load", rss=True),
    Row("floor: read + orjson.loads of every record file (process)", "floor", "process", "process", "cpu", True),
    Row(
        "cold: CLI --json summary, empty index",
        "cold",
        "wall",
        "process",
        "cpu",
        True,
        targets=(
            Target("ratio", 0.6),
            Target("cpu ratio", 1.2),
            Target("value", "floor.process", factor=2.0, name="stretch"),
        ),
    ),
    Row(
        "secrets: ingest's scan of every record's texts (per worker)",
        "secret_scan",
        "load",
        targets=(Target("value", "cold.wall", factor=0.1, name="10% of cold"),),
    ),
    Row(
        "report: CLI --json recommendations, first after cold",
        "report_first",
        "wall",
        "process",
        "cpu",
        True,
        targets=(Target("value", "cold.wall"),),
    ),
    Row("warm: CLI --json summary", "warm", "wall", "process", "cpu", True, targets=(Target("ratio", 0.5),)),
    Row(
        "report: CLI --json recommendations, warm",
        "report_warm",
        "wall",
        "process",
        "cpu",
        True,
        targets=(Target("value", "limits.report_warm"),),
    ),
    Row(
        "warm: load call (CLI, on the index file)",
        "warm_load_file",
        "load",
        "load",
        rss=True,
        targets=(Target("ratio", 0.1),),
    ),
    Row(
        "warm: load call (dashboard, in-memory copy)",
        "warm_load_memory",
        "load",
        "load",
        rss=True,
        targets=(Target("ratio", 0.1),),
    ),
    Row(
        "incremental: load call (+500 new, 100 rewritten)",
        "incremental",
        "load",
        "load",
        rss=True,
        targets=(Target("ratio", 0.2),),
    ),
    Row("incremental: CLI --json summary", "incremental", "process", "process", "cpu"),
    Row("dashboard: Overview run, warm (AppTest)", "dashboard", "overview"),
    Row("dashboard: Sessions, one session open, warm", "dashboard", "session"),
    Row("api: /api/logs/summary p50 (1 in flight)", "api", "summary_p50", targets=(Target("value", 0.005),)),
    Row("api: /api/logs/summary p99 (1 in flight)", "api", "summary_p99"),
    Row("api: /api/logs/session/{id} p50 (1 in flight)", "api", "session_p50"),
    Row("api: /api/logs/session/{id} p99 (1 in flight)", "api", "session_p99"),
)
API_PATHS = {
    "summary": "/api/logs/summary",
    "session": "/api/logs/session/{id}",
    "failures": "/api/logs/failures?limit=100",
    "analysis": "/api/logs/analysis",
    "fingerprints": "/api/logs/fingerprints",
}
METRIC_NAMES = {"p50": "p50", "p99": "p99", "rps": "req/s"}
P99_LIMIT = 0.25  # seconds, every endpoint at 8 in flight


def timed_process(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a command: its wall seconds, CPU seconds, peak RSS in MB (os.wait4) and, if it printed JSON, that.

    The CPU seconds (user + system) and the peak RSS count the process and every child it waited
    for, such as the CLI's parse workers (the kernel adds a reaped child's usage to its parent's);
    the RSS is the largest one process reached, not a sum.
    """
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
    result = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}
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


def machine() -> dict:
    """The CPUs (count, usable here, model), total memory and load average of the machine measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": models[0] if models else "unknown",
        "memory_gib": total_kb / 2**20,
        "load_average_at_start": list(os.getloadavg()),
    }


def machine_line(info: dict) -> str:
    """The machine in one line."""
    load = " ".join(f"{value:.1f}" for value in info["load_average_at_start"])
    return (
        f"machine: {info['nproc']} CPUs ({info['usable_cpus']} usable), {info['cpu_model']}, "
        f"{info['memory_gib']:.1f} GiB memory, load average {load} at start"
    )


def main(argv: list[str] | None = None) -> int:
    """Build the tree, measure everything, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--browser-runs", type=int, default=5, help="repeat visits per page in the browser")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--skip-dashboard", action="store_true", help="no AppTest and no browser timings")
    args = parser.parse_args(argv)
    compile_project()
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


PROJECT_CODE = ("analyze_logs.py", "api", "backend", "bench", "cli", "dashboard", "loaders")


def compile_project() -> None:
    """Write the project's bytecode, as installing a package does, so no timed process compiles it.

    An editable install leaves that to the first run, which writes nothing when
    PYTHONDONTWRITEBYTECODE is set (as on some CI machines): every timed process then compiled
    the project's modules again (about 0.1 s each).
    """
    for name in PROJECT_CODE:
        path = ROOT / name
        if path.is_dir():
            compileall.compile_dir(path, quiet=1)
        else:
            compileall.compile_file(path, quiet=1)


def warm_report_limit(sessions: int) -> float:
    """The warm report's target in seconds: 0.5 at 20,000 sessions and below, 2 at 100,000 and above,
    in proportion between (the issue names the two sizes)."""
    share = min(max((sessions - 20_000) / 80_000, 0.0), 1.0)
    return 0.5 + 1.5 * share


def build_tree(logs: Path, sessions: int) -> dict:
    """Write the retry-heavy tree; its size."""
    started = time.perf_counter()
    counts = generate_tree(logs, sessions=sessions, days=60, seed=20, shape=RETRY_HEAVY_SHAPE)
    attempt_bytes = sum(p.stat().st_size for p in logs.glob("*es/*/*.json"))
    return {
        "sessions": counts.sessions,
        "attempt_files": counts.failures + counts.successes,
        "session_files": counts.sessions,
        "attempt_mb": attempt_bytes / 1e6,
        "generated_seconds": time.perf_counter() - started,
    }


def read_once(logs: Path) -> None:
    """Read every record file once, untimed, so that the first figure (the baseline) finds the tree in
    the page cache as the later ones do: this machine's kernel reclaims cached pages on its own
    (DAMON), and a first read of 20,000 sessions from disk took 2.7 s where the next took 0.4."""
    for path in record_files(str(logs)):
        with open(path, "rb") as handle:
            handle.read()


def measure_all(work: Path, args: argparse.Namespace) -> dict:
    """Every figure: the processes (median of --runs), then the dashboard, the browser and the API."""
    figures: dict = {"machine": machine()}
    print(machine_line(figures["machine"]), flush=True)
    logs, cache = work / "logs", work / "cache"
    figures["tree"] = build_tree(logs, args.sessions)
    figures["runs"] = args.runs
    figures["limits"] = {"report_warm": warm_report_limit(args.sessions)}
    print(f"tree: {figures['tree']}", flush=True)
    read_once(logs)
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": str(cache)}
    for name, measure in process_steps(work, logs, cache, env):
        figures[name] = median_of(args.runs, measure)
        print(f"{name}: {figures[name]}", flush=True)
    if not args.skip_dashboard:
        dashboard = [PYTHON, "-m", "bench.dashboard_timing", str(logs), str(args.runs)]
        figures["dashboard"] = timed_process(dashboard, env)["printed"]
        print(f"dashboard: {figures['dashboard']}", flush=True)
    figures["browser"] = browser_figures(logs, env, args)
    print(f"browser: {figures['browser']}", flush=True)
    figures["api"] = timed_process([PYTHON, "-m", "bench.api_timing", str(logs), str(API_REQUESTS)], env)["printed"]
    print(f"api: {figures['api']}", flush=True)
    return figures


def process_steps(work: Path, logs: Path, cache: Path, env: dict[str, str]) -> list[tuple[str, object]]:
    """(figure name, measure) of every process-timed figure, in the order they must run."""
    cli = [PYTHON, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), "--json"]

    def script(module: str):  # type: ignore[no-untyped-def]
        def measure(_: int) -> dict:
            run = timed_process([PYTHON, "-m", module, str(logs)])
            return {
                "process": run["wall"],
                "cpu": run["cpu"],
                "load": run["printed"]["seconds"],
                "rss_mb": run["rss_mb"],
            }

        return measure

    def cold(_: int) -> dict:
        shutil.rmtree(cache, ignore_errors=True)
        return timed_process([*cli, "summary"], env)

    def report_first(_: int) -> dict:
        shutil.rmtree(cache, ignore_errors=True)
        timed_process([*cli, "summary"], env)
        return timed_process([*cli, "recommendations"], env)

    def warm(command: str):  # type: ignore[no-untyped-def]
        return lambda _: timed_process([*cli, command], env)

    def load_call(mode: str):  # type: ignore[no-untyped-def]
        def measure(_: int) -> dict:
            run = timed_process([PYTHON, "-m", "bench.load_call", str(logs), str(cache), mode], env)
            return {"load": run["printed"]["seconds"], "rss_mb": run["rss_mb"]}

        return measure

    def incremental(run_number: int) -> dict:
        mutations.add_and_fix(logs, work / f"extra-{run_number}", new_files=500, fixed=100, seed=run_number)
        call = timed_process([PYTHON, "-m", "bench.load_call", str(logs), str(cache), "file"], env)
        mutations.add_and_fix(logs, work / f"extra-b{run_number}", new_files=500, fixed=100, seed=100 + run_number)
        process = timed_process([*cli, "summary"], env)
        return {
            "load": call["printed"]["seconds"],
            "parsed": call["printed"]["parsed"],
            "process": process["wall"],
            "cpu": process["cpu"],
            "rss_mb": max(call["rss_mb"], process["rss_mb"]),
        }

    return [
        ("baseline", script("bench.baseline")),
        ("duckdb_path", script("bench.duckdb_path")),
        ("floor", script("bench.floor")),
        ("cold", cold),
        ("secret_scan", script("bench.secret_scan")),
        ("report_first", report_first),
        ("warm", warm("summary")),
        ("report_warm", warm("recommendations")),
        ("warm_load_file", load_call("file")),
        ("warm_load_memory", load_call("memory")),
        ("incremental", incremental),
    ]


def browser_figures(logs: Path, env: dict[str, str], args: argparse.Namespace) -> dict:
    """The browser timings (bench/browser_timing.py), or why they were skipped."""
    if args.skip_dashboard:
        reason = "--skip-dashboard"
    elif not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "Playwright is not installed in this environment"
    else:
        browser = [PYTHON, "-m", "bench.browser_timing", str(logs), str(args.browser_runs)]
        return timed_process(browser, env)["printed"]
    print(f"note: browser timings skipped: {reason}", flush=True)
    return {"skipped": reason}


def browser_rows(browser: dict) -> list[Row]:
    """The table's rows for the browser figures (one pair per page, the filter, the server's memory)."""
    rows = []
    for title in browser["first_visit"]:
        rows.append(
            Row(
                f"browser: {title}, first visit after restart",
                "browser",
                f"first_visit.{title}",
                targets=(Target("value", 2.5),),
            )
        )
        rows.append(
            Row(
                f"browser: {title}, repeat visit (median of {browser['runs']})",
                "browser",
                f"repeat_visit.{title}",
                targets=(Target("value", 1.5),),
            )
        )
    models = len(browser["filter"]["models"])
    return [
        *rows,
        Row(
            f"browser: Overview, a model picked in the sidebar filter (median of {models})",
            "browser",
            "filter.sidebar.drawn",
            targets=(Target("value", 0.5),),
        ),
        Row(
            f"browser: Overview ?model=M opened by URL, new filter (median of {models})",
            "browser",
            "filter.first",
            targets=(Target("value", 1.5),),
        ),
        Row("browser: Overview ?model=M, same URL again (median)", "browser", "filter.again"),
        Row(
            "browser: dashboard server RSS, steady",
            "browser",
            "server_mib.steady",
            unit="MiB",
            targets=(Target("value", 400),),
        ),
        Row(
            "browser: dashboard server RSS, peak (VmHWM)",
            "browser",
            "server_mib.peak",
            unit="MiB",
            targets=(Target("value", 600),),
        ),
        Row(
            "browser: server RSS peak, started on a new tree (builds its index)",
            "browser",
            "server_mib_new_tree.peak",
            unit="MiB",
            targets=(Target("value", 600),),
        ),
    ]


def figure_value(figures: dict, figure: str, field: str) -> float | None:
    """``figures[figure][field]``, a dotted field read through nested figures; None where missing."""
    value = figures.get(figure)
    for key in field.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def quantity(value: float, unit: str, limit: bool = False) -> str:
    """A value (or, with ``limit``, a target's limit) with its unit: seconds under 0.1 in milliseconds."""
    if unit != "s":
        return f"{value:g} {unit}" if limit else f"{value:.0f} {unit}"
    if value < 0.1:
        return f"{value * 1000:g} ms" if limit else f"{value * 1000:.1f} ms"
    return f"{value:g} s" if limit else f"{value:.3f} s"


def target_text(target: Target, unit: str, figures: dict | None = None) -> str:
    """How a target reads in the table: "<=0.6x", "CPU <=1.2x", "<=0.5 s", "<=cold wall", "<=2x floor process".

    A limit set for the run (``limits.NAME`` of ``figures``) reads as its value.
    """
    sign = ">=" if target.at_least else "<="
    if isinstance(target.limit, str) and target.limit.startswith("limits.") and figures is not None:
        limit = figure_value(figures, *target.limit.split(".", 1))
        if limit is not None:
            return target_text(Target(target.on, limit, target.at_least), unit)
    if isinstance(target.limit, str):
        times = f"{target.factor:g}x " if target.factor != 1 else ""
        return f"{sign}{times}{target.limit.replace('.', ' ')}"
    if target.on == "value":
        return f"{sign}{quantity(target.limit, unit, limit=True)}"
    return f"{'CPU ' if target.on == 'cpu ratio' else ''}{sign}{target.limit:g}x"


def target_met(target: Target, measured: dict[str, float | None], figures: dict) -> bool | None:
    """Whether the row's ``measured`` value, ratio or CPU ratio meets ``target`` (None: not measured)."""
    value = measured.get(target.on)
    limit = figure_value(figures, *target.limit.split(".", 1)) if isinstance(target.limit, str) else target.limit
    if value is None or limit is None:
        return None
    limit *= target.factor
    return value >= limit if target.at_least else value <= limit


def mark(checks: list[tuple[str, bool | None]]) -> str:
    """PASS when every target is met, else MISS and (when there are several) the names of those missed."""
    known = [(name, met) for name, met in checks if met is not None]
    if not known:
        return ""
    missed = [name for name, met in known if not met]
    if not missed:
        return "PASS"
    return "MISS" if len(checks) == 1 else f"MISS {'+'.join(missed)}"


def row_line(row: Row, figures: dict) -> str | None:
    """The row as a line of the table, or None when its figure was not measured."""
    value = figure_value(figures, row.figure, row.field)
    if value is None:
        return None
    baseline = figures.get("baseline", {})
    cpu = figure_value(figures, row.figure, row.cpu) if row.cpu else None
    measured = {
        "value": value,
        "ratio": value / baseline[row.ratio] if row.ratio and baseline.get(row.ratio) else None,
        "cpu ratio": cpu / baseline["cpu"] if cpu is not None and baseline.get("cpu") else None,
    }
    rss = figures[row.figure].get("rss_mb") if row.rss else None
    names = {"value": row.unit, "ratio": "wall", "cpu ratio": "CPU"}
    checks = [(t.name or names[t.on], target_met(t, measured, figures)) for t in row.targets]
    value_text = quantity(value, row.unit)
    cells = [
        f"{row.label:56}",
        f"{value_text:>10}",
        f"{cpu:8.3f}" if cpu is not None else f"{'':8}",
        f"{rss:5.0f} MiB" if rss else f"{'':9}",
        f"{measured['ratio']:6.2f}x" if measured["ratio"] is not None else f"{'':7}",
        f"{measured['cpu ratio']:8.2f}x" if measured["cpu ratio"] is not None else f"{'':9}",
        f"{', '.join(target_text(t, row.unit, figures) for t in row.targets):40}",
        mark(checks),
    ]
    return " ".join(cells).rstrip()


def api_targets(name: str, in_flight: str) -> list[tuple[str, str, float, bool]]:
    """The API's targets at one level: (name, metric, limit, at least)."""
    targets = []
    if name == "summary" and in_flight == "1":
        targets.append(("p50 <=5 ms", "p50", 0.005, False))
    if name == "summary" and in_flight == "8":
        targets.append((">=300 req/s", "rps", 300.0, True))
    if in_flight == "8":
        targets.append((f"p99 <={P99_LIMIT * 1000:.0f} ms", "p99", P99_LIMIT, False))
    return targets


def print_api_table(api: dict) -> None:
    """Every endpoint at every level of requests in flight: requests timed, p50, p99, requests/s, targets."""
    print(
        f"\napi under load (warm; {api['requests_at_1']} requests at 1 in flight, {2 * api['requests_at_1']} at 8 "
        f"and 32, fewer when an endpoint is slow: no new request after {api['budget_seconds']:g} s)"
    )
    print(
        f"{'endpoint':34} {'in flight':>9} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  {'target':26} mark"
    )
    for in_flight, endpoints in api["levels"].items():
        for name, result in endpoints.items():
            targets = api_targets(name, in_flight)
            checks = [
                (METRIC_NAMES[metric], result[metric] >= limit if at_least else result[metric] <= limit)
                for _, metric, limit, at_least in targets
            ]
            print(
                f"{API_PATHS.get(name, name):34} {in_flight:>9} {result['requests']:8d} {result['p50'] * 1000:8.1f} "
                f"{result['p99'] * 1000:8.1f} {result['rps']:8.1f}  {', '.join(t[0] for t in targets):26} "
                f"{mark(checks)}".rstrip()
            )


def print_script_done(browser: dict) -> None:
    """When the dashboard's script had finished on the browser's visits (the rest is the browser's drawing)."""
    for visits, seconds in browser["script_done"].items():
        pages = ", ".join(f"{title} {value:.2f}" for title, value in seconds.items())
        print(f"browser, script done at (s, {visits.replace('_', ' ')}): {pages}")


def print_table(figures: dict) -> None:
    """The figures, each with its CPU seconds, peak RSS, ratios to the baseline and its targets, then the API's."""
    print()
    print(machine_line(figures["machine"]))
    print(f"tree: {figures['tree']['sessions']:,} sessions, {figures['tree']['attempt_files']:,} attempt files")
    print(
        f"\n{'figure':56} {'value':>10} {'CPU s':>8} {'peak RSS':>9} {'ratio':>7} {'CPU ratio':>9} {'target':40} mark"
    )
    browser = figures.get("browser", {})
    rows = [*TABLE_ROWS, *(browser_rows(browser) if "first_visit" in browser else [])]
    for row in rows:
        line = row_line(row, figures)
        if line is not None:
            print(line)
    if "skipped" in browser:
        print(f"browser: skipped ({browser['skipped']})")
    print("ratio: to the baseline's process (or, for a load call, its load loop); CPU ratio: to its process's CPU")
    if "script_done" in browser:
        print_script_done(browser)
    if "levels" in figures.get("api", {}):
        print_api_table(figures["api"])


if __name__ == "__main__":
    raise SystemExit(main())
