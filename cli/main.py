"""Fixtrail: analyse the log tree of an AI script-generation service from the terminal.

Commands (as in the original analyze_logs.py, plus dashboard and serve):
  summary               the seven numbers, sessions and skipped files
  errors                error patterns, top errors by fingerprint, libraries, MapsBridge issues
  recommendations       recommendations and the AI learning summary
  unfixed               failures with no fix yet, newest first
  session SESSION_ID    one session's attempt history
  context [MAX]         the AI context text for the model's prompt (default 10 examples)
  export [FILE]         the full analysis as JSON (default analysis_export.json)
  all                   every section above
  compare --a F --b F   did the change help? cohort B against A, each difference with its 95 % interval
  mark LABEL [--at ISO] record a change marker ("system_context v12") in the tree's analysis/markers.json
  markers               the change markers, oldest first
  check                 alerts since the last check (new/regressed errors, rate drops); exit 1 if any
  export-evals FILE     one JSON line per failed session (prompt, failing code, fix), for an eval set
  compact --table URL   merge the slim rows of new attempts under an s3:// --logs-dir into a Delta table
  dashboard             open the Streamlit dashboard on this tree
  serve                 serve the REST API (127.0.0.1:8000 unless told otherwise)

The dashboard and the API answer only requests naming localhost, 127.0.0.1, ::1 or the address
they listen on in their Host header; allow other names with --allowed-host NAME or
FIXTRAIL_ALLOWED_HOSTS=name1,name2.

Commands are case-insensitive (SUMMARY works), and the options above the commands may also
follow the command (summary --json, unfixed --logs-dir DIR). Run from a clone after `make run`
or `make test` with .venv/bin/python, or as the installed `fixtrail` command.

Examples:
  .venv/bin/python analyze_logs.py summary
  .venv/bin/python analyze_logs.py --logs-dir /srv/logs --json summary
  .venv/bin/python analyze_logs.py summary --json --logs-dir /srv/logs
  .venv/bin/python analyze_logs.py --as-of 2025-12-21T12:00 session 6f1c...
  .venv/bin/python analyze_logs.py compare --a model=gpt-4.1-mini --b model=claude-sonnet-4
  .venv/bin/python analyze_logs.py compare --a "before=system_context v12" --b "after=system_context v12"
  .venv/bin/python analyze_logs.py mark "system_context v12" --at 2026-11-20T09:00
  .venv/bin/python analyze_logs.py check --window 24 --webhook https://hooks.example.com/T000/B000
  .venv/bin/python analyze_logs.py export-evals evals.jsonl
  fixtrail serve --host 0.0.0.0 --allowed-host logs.internal
  .venv/bin/python analyze_logs.py --logs-dir s3://fixtrail-logs/prod summary
  .venv/bin/python analyze_logs.py --logs-dir s3://fixtrail-logs/prod compact --table s3://fixtrail-tables/attempts
  .venv/bin/python analyze_logs.py --table s3://fixtrail-tables/attempts summary

--logs-dir also takes s3://bucket/prefix (endpoint and credentials from the standard AWS environment:
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...); --table URL (a path or s3:// URL of a Delta table written
by compact) makes that table the source of every command instead.

Cohorts (--a, --b, export-evals --filter) are written as the dashboard's URL filters: model=NAME,
start=YYYY-MM-DD,end=YYYY-MM-DD, tag=TAG, category=NAME, status=failed|success, q=TEXT, or a marker:
before=LABEL, after=LABEL. A session belongs to a cohort when its first attempt matches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from filelock import Timeout as FileLockTimeout

from cli import text
from cli.webhook import FIRST_DELAY_SECONDS, RETRIES, TIMEOUT_SECONDS, WEBHOOK_ENV, post_json
from loaders import alerts, attempts, compat, errors, markers, sessions
from loaders.alerts import DEFAULT_WINDOW_HOURS
from loaders.cohorts import parse_cohort
from loaders.files import write_atomically
from loaders.filters import FIRST_DAY, LAST_DAY
from loaders.index import CACHE_DIR_ENV, IndexBusyError, LogIndex, default_cache_dir
from loaders.metrics import summary
from loaders.sources import table_location
from loaders.tree import LogTreeError, check_logs_dir

# loaders.report, loaders.context and loaders.exports need pandas at run time; they are imported by
# the commands that use them, so that `summary` and `session` start without it.

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
# After forwarding SIGTERM or SIGINT, how long the dashboard's server gets to stop before it is killed.
CHILD_STOP_SECONDS = 10


class CommandError(Exception):
    """A failure to report on one line with exit status 1 (no traceback)."""


COMMANDS = (
    "summary",
    "errors",
    "recommendations",
    "unfixed",
    "session",
    "context",
    "export",
    "all",
    "dashboard",
    "serve",
    "compare",
    "mark",
    "markers",
    "check",
    "export-evals",
    "compact",
)
# The global options that take a value (to find the command word among the arguments).
VALUE_OPTIONS = ("--logs-dir", "--as-of", "--sessions", "--table")


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """The options every command takes; without ``defaults`` an option not given leaves the namespace alone."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--logs-dir", default=default("logs"), help="the log tree: a directory or s3://bucket/prefix (default: ./logs)"
    )
    parser.add_argument(
        "--table",
        default=default(None),
        help="a Delta table (path or s3:// URL) to read instead of --logs-dir; where compact writes",
    )
    parser.add_argument(
        "--as-of", type=_iso_time, default=default(None), help="end of the 7-day window, ISO 8601 (default: now)"
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print one JSON document instead of text"
    )
    parser.add_argument(
        "--sessions",
        choices=("auto", "linked", "inferred"),
        default=default("auto"),
        help="sessions as logged, inferred from prompt/input/model/time, or auto (inferred when the logs "
        "do not link attempts; the default)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: global options (before or after the command), then the command and its arguments."""
    parser = argparse.ArgumentParser(
        prog="analyze_logs.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_global_options(parser, defaults=True)
    after_the_command = argparse.ArgumentParser(add_help=False)
    _add_global_options(after_the_command, defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[after_the_command])

    for name in ("summary", "errors", "recommendations", "unfixed", "all"):
        add(name)
    add("session").add_argument("session_id")
    add("context").add_argument("max_examples", nargs="?", type=int, default=10)
    add("export").add_argument("file", nargs="?", default="analysis_export.json")
    compare = add("compare")
    compare.add_argument("--a", required=True, metavar="FILTER", help="cohort A, e.g. model=gpt-4.1-mini")
    compare.add_argument("--b", required=True, metavar="FILTER", help="cohort B, e.g. 'after=system_context v12'")
    mark = add("mark")
    mark.add_argument("label", help='what changed, e.g. "system_context v12"')
    mark.add_argument("--at", type=_iso_time, default=None, help="when it changed, ISO 8601 (default: now)")
    add("markers")
    add("compact")
    check = add("check")
    check.add_argument(
        "--webhook", default=os.environ.get(WEBHOOK_ENV), metavar="URL", help=f"POST the alerts here (${WEBHOOK_ENV})"
    )
    check.add_argument("--window", type=_hours, default=DEFAULT_WINDOW_HOURS, metavar="HOURS", help="default 24")
    check.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds per webhook try")
    check.add_argument("--retries", type=int, default=RETRIES, help="webhook retries after a failure")
    check.add_argument(
        "--retry-delay", type=float, default=FIRST_DELAY_SECONDS, help="seconds before the first retry (doubling)"
    )
    evals = add("export-evals")
    evals.add_argument("file", help="the JSON Lines file to write")
    evals.add_argument("--filter", default="", metavar="FILTER", help="only sessions of this cohort")
    dashboard = add("dashboard")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8501)
    serve = add("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    for server in (dashboard, serve):
        server.add_argument(
            "--allowed-host",
            action="append",
            default=[],
            metavar="NAME",
            help="also answer requests naming NAME in their Host header (repeatable)",
        )
    return parser


def normalise_argv(argv: list[str]) -> list[str]:
    """The arguments with the command word in lower case (commands are case-insensitive, as in the original)."""
    result = list(argv)
    position = 0
    while position < len(result):
        token = result[position]
        if token in VALUE_OPTIONS:
            position += 2
            continue
        if token.startswith("-"):
            position += 1
            continue
        if token.lower() in COMMANDS:
            result[position] = token.lower()
        break
    return result


def _iso_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if not FIRST_DAY <= parsed.date() <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"not a time from {FIRST_DAY} to {LAST_DAY}: {value!r}")
    return parsed.astimezone().replace(tzinfo=None) if parsed.tzinfo else parsed


def _hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 366:
        raise argparse.ArgumentTypeError(f"not a number of hours from 0 to 8784: {value!r}")
    return hours


def _progress_printer():
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\rIndexing log files: {100 * done // max(total, 1)}%{end}")
        sys.stderr.flush()

    return show


def _to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):  # pandas' Timestamp too: microseconds kept, as the logs write them
        return value.isoformat(timespec="microseconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _rows(frame) -> list[dict[str, Any]]:
    """The frame's rows as dicts for --json: missing values as null, times with their microseconds."""
    return [{key: None if _missing(value) else value for key, value in row.items()} for row in frame.to_dict("records")]


def _missing(value: Any) -> bool:
    """None, NaN or NaT (the only values unequal to themselves); lists and texts never."""
    if value is None:
        return True
    if isinstance(value, (str, bytes)) or hasattr(value, "__len__"):
        return False
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def run_command(args: argparse.Namespace, index: LogIndex) -> str:
    """Run one analysis command on an up-to-date index; return what to print."""
    as_of = args.as_of or datetime.now()
    if args.command == "summary":
        data = summary(index, as_of=as_of).as_dict()
        return _to_json(data) if args.json else text.summary_text(data)
    if args.command == "session":
        detail = sessions.session_detail(index, args.session_id)
        if detail is None or detail.attempts.empty:  # a logged session merged into an inferred one, an attempt id
            found = compat.fixtrail_session_id(index, args.session_id)
            detail = sessions.session_detail(index, found) if found else detail
        if detail is None:
            raise CommandError(f"session not found: {args.session_id}")
        if args.json:
            return _to_json(
                {
                    "session_id": detail.session_id,
                    "status": detail.status,
                    "session_file": detail.session_file,
                    "missing_attempt_ids": detail.missing_attempt_ids,
                    "attempts": detail.records_or_stand_ins(),
                }
            )
        return text.session_text(
            detail.session_id, detail.attempts, detail.session_file, detail.missing_attempt_ids, detail.records
        )
    if args.command == "unfixed":
        unfixed = attempts.unfixed_failures(index, as_of=as_of)
        if args.json:
            return _to_json(_rows(unfixed))
        return text.unfixed_text(unfixed, as_of)
    if args.command == "compare":
        return _compare(args, index)
    if args.command == "export-evals":
        from loaders.evals import eval_cases, evals_jsonl

        cases = eval_cases(index, parse_cohort(args.filter, _markers_with_notes(index.root)))
        path = Path(args.file)
        write_atomically(path, evals_jsonl(cases))
        fixed = sum(case["fixed"] for case in cases)
        if args.json:
            return _to_json({"path": str(path.resolve()), "cases": len(cases), "fixed": fixed})
        return f"✓ {len(cases)} eval cases ({fixed} fixed) written to {path.resolve()}"
    if args.command == "context":
        from loaders.context import ai_context

        context = ai_context(index, max_examples=args.max_examples)
        return _to_json({"context": context}) if args.json else text.context_text(context)
    if args.command == "recommendations":
        from loaders.report_sections import report_sections

        sections = report_sections(index)  # stored per index version: no pandas, no window
        if args.json:
            return _to_json({key: sections[key] for key in ("recommendations", "fix_rules", "ai_learning_summary")})
        return _recommendations_text(sections)
    from loaders.report import analysis_report

    report = analysis_report(index, as_of=as_of)
    if args.command == "export":
        path = Path(args.file)
        write_atomically(path, _to_json(report).encode("utf-8"))
        if args.json:
            return _to_json({"path": str(path.resolve()), "bytes": path.stat().st_size})
        return text.section("EXPORTING ANALYSIS") + (
            f"✓ Analysis exported to: {path.resolve()}\n  File size: {path.stat().st_size / 1024:.1f} KB\n"
        )
    marks = errors.error_fingerprints(index, limit=50)
    if args.command == "errors":
        if args.json:
            return _to_json(
                {key: report[key] for key in ("error_patterns", "common_errors", "library_issues", "mapbridge_issues")}
                | {"fingerprints": _rows(marks), "fingerprint_states": report["fingerprints"]}
            )
        return _errors_text(report, marks)
    # all
    if args.json:
        return _to_json(report)
    summary_data = summary(index, as_of=as_of).as_dict()
    return "\n".join(
        [
            text.summary_text(summary_data),
            _errors_text(report, marks),
            _recommendations_text(report),
            text.unfixed_text(attempts.unfixed_failures(index, as_of=as_of), as_of),
        ]
    )


def _compare(args: argparse.Namespace, index: LogIndex) -> str:
    from loaders.compare import compare

    known = _markers_with_notes(index.root)
    comparison = compare(index, parse_cohort(args.a, known), parse_cohort(args.b, known))
    data = {"a": args.a, "b": args.b, **comparison.as_dict()}
    return _to_json(data) if args.json else text.compare_text(data)


def _markers_with_notes(root: Path | str) -> list[markers.Marker]:
    """The tree's markers; what was skipped or refused in the file is said on stderr."""
    if not isinstance(root, Path):
        return []
    found = markers.load_markers(root)
    for problem in found.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return found.markers


def run_marker_command(args: argparse.Namespace, logs_dir: Path | str) -> str:
    """``mark`` (the only command that writes into the tree) and ``markers``: no index needed."""
    if not isinstance(logs_dir, Path):
        raise CommandError("change markers are kept in a local tree's analysis/markers.json, not under s3://")
    root = check_logs_dir(logs_dir)
    if args.command == "mark":
        try:
            result = markers.record_marker(root, args.label, args.at)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except FileLockTimeout:
            raise CommandError(f"another mark holds the lock of {markers.markers_file(root)}; try again") from None
        for problem in result.problems:
            print(f"warning: {problem}", file=sys.stderr)
        if result.kept_aside:
            print(f"warning: the previous markers file is kept aside as {result.kept_aside}", file=sys.stderr)
        marker = result.marker
        if args.json:
            return _to_json(marker.as_dict())
        return f"✓ Marker {marker.label!r} at {marker.at:%Y-%m-%d %H:%M:%S} kept in {markers.markers_file(root)}"
    found = _markers_with_notes(root)
    if args.json:
        return _to_json([marker.as_dict() for marker in found])
    return text.markers_text(found)


def find_new_alerts(args: argparse.Namespace, index: LogIndex) -> tuple[list[dict[str, Any]], Path, datetime]:
    """The alerts of ``check`` that were not reported before, the file that remembers them, and the
    check's time (``--as-of``, default now)."""
    as_of = args.as_of or datetime.now()
    memory = alerts.memory_path(index)
    found = alerts.find_alerts(index, as_of, args.window, alerts.last_check(memory))
    return alerts.unreported(found, memory), memory, as_of


def report_alerts(
    args: argparse.Namespace, new: list[dict[str, Any]], memory: Path, checked_at: datetime
) -> tuple[str, int]:
    """Print-ready output and exit status of ``check``: post to the webhook, remember what was reported.

    Exit 1 when something was found (reported or not); a webhook that failed is said on stderr and
    its alerts are not remembered, so the next check tries again.
    """
    document = {"text": text.alerts_text(new), "alerts": new}
    if new and args.webhook:
        problem = post_json(args.webhook, document, args.timeout, max(0, args.retries), max(0.0, args.retry_delay))
        if problem:
            print(f"error: {problem}", file=sys.stderr)
        else:
            alerts.remember(memory, new, checked_at)
    else:
        alerts.remember(memory, new, checked_at)
    output = _to_json(document) if args.json else document["text"]
    return output, EXIT_ERROR if new else EXIT_OK


def _recommendations_text(report: dict[str, Any]) -> str:
    return text.fix_rules_text(report["fix_rules"]) + text.recommendations_text(
        report["recommendations"], report["ai_learning_summary"]
    )


def _errors_text(report: dict[str, Any], marks) -> str:
    states = {row["fingerprint"]: row for row in report["fingerprints"]}
    return "\n".join(
        [
            text.error_patterns_text(report["error_patterns"]),
            text.fingerprints_text(marks, states),
            text.library_text(report["library_issues"]),
            text.bridge_text(report["mapbridge_issues"]),
        ]
    )


def _launch(args: argparse.Namespace, logs_dir: Path) -> int:
    if args.command == "serve":
        from api.server import serve

        return serve(logs_dir, args.host, args.port, args.allowed_host)
    from api.hosts import allowed_hosts

    # Set here as well as in .streamlit/config.toml, which Streamlit reads only from the current directory.
    names = allowed_hosts(args.host, args.allowed_host)
    hosts = [option for name in names for option in ("--server.allowedHosts", name)]
    command = [
        sys.executable,
        "-m",
        "dashboard.serve",  # streamlit run, warmed up before the first visit
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        *hosts,
        "--",
        "--logs-dir",
        str(logs_dir),
    ]
    return run_child(command)


def run_child(command: list[str]) -> int:
    """Run ``command`` until it exits; SIGTERM or SIGINT to this process stops it too. Returns its status.

    The signal is passed on to the child, which gets CHILD_STOP_SECONDS to stop before it is killed:
    stopping the CLI never leaves a server behind holding its port.
    """
    stop_asked: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        stop_asked.append(time.monotonic())
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    child: subprocess.Popen | None = None
    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        child = subprocess.Popen(command)
        if stop_asked:  # a signal came before the child existed
            child.terminate()
        while True:
            try:
                status = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stop_asked and time.monotonic() - stop_asked[0] > CHILD_STOP_SECONDS:
                    child.kill()
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``analyze_logs.py`` and ``fixtrail``; returns the exit status.

    Without arguments it prints the help and returns 1, as the original did.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help()
        return EXIT_ERROR
    args = parser.parse_args(normalise_argv(argv))
    try:
        # An s3:// prefix or a table stays text (a Path would fold its "//"); loaders.sources opens each.
        logs_dir = args.logs_dir if str(args.logs_dir).startswith("s3://") else Path(args.logs_dir)
        if args.table and args.command != "compact":
            logs_dir = table_location(args.table)
        if args.command == "compact":
            sys.stdout.write(run_compact(args) + "\n")
            return EXIT_OK
        if args.command in ("dashboard", "serve"):
            if isinstance(logs_dir, Path) and not logs_dir.is_dir():
                raise LogTreeError(f"log directory not found: {logs_dir}")
            return _launch(args, logs_dir)
        status = EXIT_OK
        if args.command in ("mark", "markers"):
            output = run_marker_command(args, logs_dir)
        elif args.command == "check":
            # The webhook is posted after the index is closed: a slow receiver must not hold its lock.
            with _open_index(logs_dir, args.sessions) as index:
                new, memory, checked_at = find_new_alerts(args, index)
            output, status = report_alerts(args, new, memory, checked_at)
        else:
            # One command, one short process: query the index file in place instead of copying it,
            # and close it (releasing its lock) before writing, which may block on a slow reader.
            with _open_index(logs_dir, args.sessions) as index:
                output = run_command(args, index)
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
        sys.stdout.flush()
        return status
    except (duckdb.IOException, duckdb.TransactionException) as exc:  # the index file, while a command ran
        print(f"error: {_index_failure(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except (LogTreeError, CommandError, IndexBusyError, OSError, ValueError) as exc:
        if isinstance(exc, BrokenPipeError):
            return _quiet_broken_pipe()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, duckdb.InterruptException) as exc:
        if _interrupted_query(exc):  # Ctrl-C while DuckDB ran a query: as quiet as any other Ctrl-C
            return 130
        raise


def _interrupted_query(error: Exception) -> bool:
    """True for what DuckDB raises when a query in progress is interrupted: on Ctrl-C a RuntimeError
    (not KeyboardInterrupt), or its InterruptException (a duckdb.Error, not a RuntimeError)."""
    return isinstance(error, duckdb.InterruptException) or str(error) == "Query interrupted"


def run_compact(args: argparse.Namespace) -> str:
    """Merge the new attempts under ``--logs-dir`` (an s3:// prefix) into the Delta table ``--table``."""
    from deltalake.exceptions import DeltaError

    from loaders.sources.delta import compact

    if not args.table:
        raise CommandError("compact needs --table URL (the Delta table to write)")
    try:
        report = compact(str(args.logs_dir), args.table, _progress_printer())
    except DeltaError as exc:
        raise CommandError(f"the Delta table {args.table} cannot be written: {exc}") from exc
    if args.json:
        return _to_json(dataclasses.asdict(report))
    skipped = "".join(f"\n  skipped {path}: {reason}" for path, reason in report.skipped_reasons[:20])
    return (
        f"{report.added} new attempts merged into {args.table} (table version {report.version}; "
        f"{report.listed} objects listed, {report.skipped} skipped) in {report.seconds:.2f} s{skipped}"
    )


def _open_index(logs_dir: Path, session_mode: str) -> LogIndex:
    """The index of the tree, brought up to date; a CommandError saying where and why if it cannot be."""
    try:
        index = LogIndex(logs_dir, in_memory=False, session_mode=session_mode)
        try:
            index.refresh(_progress_printer())
        except BaseException:
            index.close()
            raise
    except (OSError, duckdb.Error) as exc:
        if isinstance(exc, OSError) and isinstance(exc.filename, str) and _inside(exc.filename, logs_dir):
            raise  # about the tree, not the index
        raise CommandError(_index_failure(exc)) from exc
    return index


def _inside(path: str, folder: Path | str) -> bool:
    return isinstance(folder, Path) and Path(path).resolve().is_relative_to(folder.resolve())


def _index_failure(exc: OSError | duckdb.Error) -> str:
    """One line for a failure to write or read the index (a full disk, a file in the way of its directory)."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc).strip().splitlines() or ["?"])[0]
    where = default_cache_dir().resolve()
    return f"cannot use the index in {where}: {why} (set ${CACHE_DIR_ENV} to use another directory)"


def _quiet_broken_pipe() -> int:
    """The reader (e.g. ``head``) closed the pipe: stop quietly, as command-line tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
