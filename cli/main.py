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
  triage [--state S]    errors with the team's decisions (unresolved by default; resolved, ignored, all,
                        assigned:NAME); resolve, unresolve, ignore, assign, note, merge FINGERPRINT act
                        on one (kept in the tree's analysis/triage.jsonl; --by NAME, else $FIXTRAIL_USER)
  markers               the change markers, oldest first
  check                 alerts since the last check (new/regressed errors, rate drops); exit 1 if any
  export-evals FILE     one JSON line per failed session (prompt, failing code, fix), for an eval set
  compact --table URL   merge the slim rows of new attempts under an s3:// --logs-dir into a Delta table
  dashboard             open the Streamlit dashboard on this tree
  serve                 serve the REST API (127.0.0.1:8000 unless told otherwise)
  token create NAME [--write] | token list | token revoke NAME
                        API tokens: printed once, kept hashed in a file only you can read

The dashboard and the API answer only requests naming localhost, 127.0.0.1, ::1 or the address
they listen on in their Host header; allow other names with --allowed-host NAME or
FIXTRAIL_ALLOWED_HOSTS=name1,name2. Beyond loopback (--host 0.0.0.0) the dashboard needs sign-in
configured (.streamlit/secrets.toml) and the API a token (token create), or --no-auth to let anyone
who can reach them read every log.

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
  .venv/bin/python analyze_logs.py resolve 3f2a9c1b7d2e --next-marker
  .venv/bin/python analyze_logs.py ignore 3f2a9c1b7d2e --until-count 50
  .venv/bin/python analyze_logs.py check --window 24 --webhook https://hooks.example.com/T000/B000
  .venv/bin/python analyze_logs.py export-evals evals.jsonl
  fixtrail token create ci-reader
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
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from filelock import Timeout as FileLockTimeout

from cli import text, triage_commands
from cli.arguments import build_parser, normalise_argv
from cli.children import launch_server
from cli.webhook import post_json, slack_text
from loaders.analysis import alerts, attempts, errors, sessions
from loaders.analysis.cohorts import parse_cohort
from loaders.analysis.metrics import Window, summary, window_of
from loaders.annotations import markers
from loaders.core.files import write_atomically
from loaders.ingest.sources import table_location
from loaders.ingest.tree import LogTreeError, check_logs_dir
from loaders.outputs import compat
from loaders.store.cache import CACHE_DIR_ENV, CacheDirError, IndexBusyError, default_cache_dir
from loaders.store.index import LogIndex
from loaders.text.secrets import mask_secrets, mask_text

# loaders.outputs.report, loaders.outputs.context and loaders.outputs.exports need pandas at run time;
# they are imported by the commands that use them, so that `summary` and `session` start without it.

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A failure to report on one line with exit status 1 (no traceback)."""


def _progress_printer():
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\rIndexing log files: {100 * done // max(total, 1)}%{end}")
        sys.stderr.flush()

    return show


def _to_json(value: Any) -> str:
    """``value`` as indented JSON, its texts' secrets masked (before encoding: a secret in code is
    found in the text, not in its JSON escape)."""
    return json.dumps(mask_secrets(value), indent=2, ensure_ascii=False, default=_json_default)


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
    # The window every surface uses (loaders.analysis.metrics.window_of), and why it ends where it does.
    window = Window(args.as_of, "as given") if args.as_of else window_of(index)
    as_of = window.end
    if args.command == "summary":
        data = summary(index, as_of=window).as_dict()
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
    if args.command == "triage":
        listing = triage_commands.triage_listing(index, args.state, as_of, now=args.as_of)
        return _to_json(listing) if args.json else triage_commands.triage_text(listing)
    if args.command in triage_commands.ACTION_COMMANDS:
        event = triage_commands.run_action(args, index)
        return _to_json(event) if args.json else triage_commands.action_text(event)
    if args.command == "unfixed":
        unfixed = attempts.unfixed_failures(index, as_of=as_of)
        if args.json:
            return _to_json(_rows(unfixed))
        return text.unfixed_text(unfixed, as_of)
    if args.command == "compare":
        return _compare(args, index)
    if args.command == "export-evals":
        from loaders.outputs.evals import eval_cases, evals_jsonl

        cases = eval_cases(index, parse_cohort(args.filter, _markers_with_notes(index.root)))
        path = Path(args.file)
        write_atomically(path, evals_jsonl(cases))
        fixed = sum(case["fixed"] for case in cases)
        if args.json:
            return _to_json({"path": str(path.resolve()), "cases": len(cases), "fixed": fixed})
        return f"✓ {len(cases)} eval cases ({fixed} fixed) written to {path.resolve()}"
    if args.command == "context":
        from loaders.outputs.context import ai_context

        context = ai_context(index, max_examples=args.max_examples)
        return _to_json({"context": context}) if args.json else text.context_text(context)
    if args.command == "recommendations":
        from loaders.outputs.report_sections import report_sections

        sections = report_sections(index)  # stored per index version: no pandas, no window
        if args.json:
            return _to_json({key: sections[key] for key in ("recommendations", "fix_rules", "ai_learning_summary")})
        return _recommendations_text(sections)
    from loaders.outputs.report import analysis_report

    report = analysis_report(index, as_of=window)
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
    summary_data = summary(index, as_of=window).as_dict()
    return "\n".join(
        [
            text.summary_text(summary_data),
            _errors_text(report, marks),
            _recommendations_text(report),
            text.unfixed_text(attempts.unfixed_failures(index, as_of=as_of), as_of),
        ]
    )


def _compare(args: argparse.Namespace, index: LogIndex) -> str:
    from loaders.analysis.compare import compare

    known = _markers_with_notes(index.root)
    try:
        comparison = compare(index, parse_cohort(args.a, known), parse_cohort(args.b, known))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    empty = comparison.empty_cohorts()
    if empty:
        raise CommandError(f"cohort {' and '.join(empty)} holds no session: nothing to compare (check its filter)")
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
        posted = {**document, "text": slack_text(document["text"])}
        problem = post_json(args.webhook, posted, args.timeout, args.retries, args.retry_delay)
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


LOGS_DIR_ENV = "FIXTRAIL_LOGS_DIR"
# The demo tree that ships in the clone (make run shows it): said when a command falls back on it.
DEMO_LOGS = Path(__file__).resolve().parents[1] / "logs"


def logs_location(given: str | None) -> tuple[str, bool]:
    """The tree a command reads, and whether the user named it: ``--logs-dir``, else ``$FIXTRAIL_LOGS_DIR``,
    else ``./logs`` (not named)."""
    if given:
        return given, True
    configured = os.environ.get(LOGS_DIR_ENV)
    return (configured, True) if configured else ("logs", False)


def _say_which_default_tree(logs_dir: Path | str) -> None:
    """For the ./logs fallback: a missing one is an error naming the ways to name a tree; the clone's
    demo tree is said on stderr, so that nobody takes its numbers for theirs."""
    if not isinstance(logs_dir, Path):
        return
    if not logs_dir.is_dir():
        raise LogTreeError(f"log directory not found: ./{logs_dir} (give --logs-dir DIR or set {LOGS_DIR_ENV}=DIR)")
    if logs_dir.resolve() == DEMO_LOGS:
        print(
            f"note: showing the demo logs bundled with Fixtrail ({DEMO_LOGS}); "
            f"give --logs-dir DIR or set {LOGS_DIR_ENV}=DIR for your own tree",
            file=sys.stderr,
        )


def run_token_command(args: argparse.Namespace) -> str:
    """``token create NAME [--write]`` (prints the secret, once), ``token list`` or ``token revoke NAME``."""
    from api.tokens import create_token, read_tokens, revoke_token, tokens_file

    if args.action != "list" and not args.name:
        raise CommandError(f"token {args.action} needs a NAME")
    if args.action == "create":
        secret = create_token(args.name, write=args.write)
        access = "read and write" if args.write else "read"
        return (
            f"{secret}\n"
            f"token {args.name!r} ({access}) created; this is the only time it is shown. "
            f"Send it as: Authorization: Bearer {secret[:8]}...\n"
        )
    if args.action == "revoke":
        revoke_token(args.name)
        return f"token {args.name!r} revoked: requests presenting it are refused from now on\n"
    tokens = [token.describe() for token in read_tokens().values()]
    if args.json:
        return json.dumps({"tokens_file": str(tokens_file()), "tokens": tokens}, indent=2) + "\n"
    if not tokens:
        return f"no tokens ({tokens_file()}); create one with: token create NAME\n"
    return "".join(f"{t['name']}\t{t['access']}\tcreated {t['created_at']}\n" for t in tokens)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``analyze_logs.py`` and ``fixtrail``; returns the exit status.

    Without arguments it prints the help and returns 1, as the original did.
    """
    parser = build_parser(__doc__)
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help()
        return EXIT_ERROR
    args = parser.parse_args(normalise_argv(argv))
    try:
        if args.command == "token":  # about this machine's API, not a tree
            sys.stdout.write(run_token_command(args))
            return EXIT_OK
        args.logs_dir, chosen = logs_location(args.logs_dir)
        # An s3:// prefix or a table stays text (a Path would fold its "//"); loaders.ingest.sources opens each.
        logs_dir = args.logs_dir if str(args.logs_dir).startswith("s3://") else Path(args.logs_dir)
        if not chosen and not args.table and args.command != "compact":
            _say_which_default_tree(logs_dir)
        if args.table and args.command != "compact":
            logs_dir = table_location(args.table)
        if args.command == "compact":
            sys.stdout.write(run_compact(args) + "\n")
            return EXIT_OK
        if args.command in ("dashboard", "serve"):
            if isinstance(logs_dir, Path) and not logs_dir.is_dir():
                raise LogTreeError(f"log directory not found: {logs_dir}")
            return launch_server(args, logs_dir)
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
        if not args.json:  # JSON was masked value by value before it was encoded (_to_json)
            output = mask_text(output)  # text output: whatever a section printed, its secrets masked
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

    from loaders.ingest.sources.delta import compact

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
        about_the_tree = isinstance(exc, OSError) and not isinstance(exc, CacheDirError)
        if about_the_tree and isinstance(exc.filename, str) and _inside(exc.filename, logs_dir):
            raise  # about the tree, not the index
        raise CommandError(_index_failure(exc)) from exc
    return index


def _inside(path: str, folder: Path | str) -> bool:
    return isinstance(folder, Path) and Path(path).resolve().is_relative_to(folder.resolve())


def _index_failure(exc: OSError | duckdb.Error) -> str:
    """One line for a failure to write or read the index (a full disk, a file in the way of its directory)."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc).strip().splitlines() or ["?"])[0]
    where = exc.filename if isinstance(exc, CacheDirError) else default_cache_dir()
    return f"cannot use the index in {where}: {why} (set ${CACHE_DIR_ENV} to use another directory)"


def _quiet_broken_pipe() -> int:
    """The reader (e.g. ``head``) closed the pipe: stop quietly, as command-line tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
