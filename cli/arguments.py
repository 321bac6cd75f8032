"""The command line's words: the commands, their options (accepted before or after the command), and checks
of the values given (times, hours, seconds, counts), each refused with a one-line usage error."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from cli.webhook import (
    FIRST_DELAY_SECONDS,
    MAX_DELAY_SECONDS,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    RETRIES,
    TIMEOUT_SECONDS,
    WEBHOOK_ENV,
)
from loaders.analysis.alerts import DEFAULT_WINDOW_HOURS
from loaders.analysis.filters import FIRST_DAY, LAST_DAY

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
    "token",
    "triage",
    "resolve",
    "unresolve",
    "ignore",
    "assign",
    "note",
    "merge",
)
# The global options that take a value (to find the command word among the arguments).
VALUE_OPTIONS = ("--logs-dir", "--as-of", "--sessions", "--table")


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """The options every command takes; without ``defaults`` an option not given leaves the namespace alone."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--logs-dir",
        default=default(None),
        help="the log tree: a directory or s3://bucket/prefix (default: $FIXTRAIL_LOGS_DIR, else ./logs)",
    )
    parser.add_argument(
        "--table",
        default=default(None),
        help="a Delta table (path or s3:// URL) to read instead of --logs-dir; where compact writes",
    )
    parser.add_argument(
        "--as-of",
        type=iso_time,
        default=default(None),
        help="end of the 7-day window, ISO 8601 (default: now, or the newest record when nothing is newer than 7 days)",
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


def build_parser(description: str) -> argparse.ArgumentParser:
    """The argument parser: global options (before or after the command), then the command and its arguments;
    ``description`` is the help text above them (cli.main's docstring)."""
    parser = argparse.ArgumentParser(
        prog="analyze_logs.py", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
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
    mark.add_argument("--at", type=iso_time, default=None, help="when it changed, ISO 8601 (default: now)")
    add("markers")
    add("compact")
    check = add("check")
    check.add_argument(
        "--webhook", default=os.environ.get(WEBHOOK_ENV), metavar="URL", help=f"POST the alerts here (${WEBHOOK_ENV})"
    )
    check.add_argument("--window", type=hours, default=DEFAULT_WINDOW_HOURS, metavar="HOURS", help="default 24")
    check.add_argument(
        "--timeout",
        type=seconds(0.001, MAX_TIMEOUT_SECONDS),
        default=TIMEOUT_SECONDS,
        help="seconds per webhook try, in all",
    )
    check.add_argument("--retries", type=count(MAX_RETRIES), default=RETRIES, help="webhook retries after a failure")
    check.add_argument(
        "--retry-delay",
        type=seconds(0, MAX_DELAY_SECONDS),
        default=FIRST_DELAY_SECONDS,
        help="seconds before the first retry (doubling)",
    )
    evals = add("export-evals")
    evals.add_argument("file", help="the JSON Lines file to write")
    evals.add_argument("--filter", default="", metavar="FILTER", help="only sessions of this cohort")
    _add_triage_commands(add)
    token = add("token")
    token.add_argument("action", choices=("create", "list", "revoke"), help="create NAME, list, or revoke NAME")
    token.add_argument("name", nargs="?", help="the token's name (create, revoke)")
    token.add_argument("--write", action="store_true", help="create: the token may also write (marks, triage)")
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
        server.add_argument(
            "--no-auth",
            action="store_true",
            help="listen beyond loopback without sign-in (dashboard) or tokens (serve): anyone who can "
            "reach it reads every log; every page and answer says so",
        )
    return parser


def _add_triage_commands(add: Callable[[str], argparse.ArgumentParser]) -> None:
    """triage (the list with each error's decisions) and the actions on one error, by fingerprint."""
    triage = add("triage")
    triage.add_argument(
        "--state",
        default="unresolved",
        help="unresolved (the default: also regressed and escalating), resolved, ignored, all, or assigned:NAME",
    )
    actions = {
        "resolve": "resolve the error (now, or --next-marker: when the next mark is recorded)",
        "unresolve": "reopen the error",
        "ignore": "ignore the error (for good, --until-count N more failures, or --until DATE)",
        "assign": "give the error to NAME (an empty NAME unassigns)",
        "note": "leave a note on the error",
        "merge": "the error is the same as INTO: show them as one",
    }
    parsers = {}
    for name, what in actions.items():
        parsers[name] = action = add(name)
        action.description = what
        action.add_argument("fingerprint", help="the error's fingerprint (triage and errors list them)")
        action.add_argument("--by", default=None, metavar="NAME", help="who acts ($FIXTRAIL_USER, else your login)")
    parsers["assign"].add_argument("assignee", metavar="NAME")
    parsers["note"].add_argument("text", metavar="TEXT")
    parsers["merge"].add_argument("into", metavar="INTO")
    parsers["resolve"].add_argument("--next-marker", action="store_true", help="resolved by the next mark")
    parsers["ignore"].add_argument("--until-count", type=int, default=None, metavar="N", help="until N more failures")
    parsers["ignore"].add_argument("--until", type=_day, default=None, metavar="YYYY-MM-DD", help="until this date")


def _day(text: str) -> date:
    """A calendar day written YYYY-MM-DD (argparse type)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


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


def iso_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if not FIRST_DAY <= parsed.date() <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"not a time from {FIRST_DAY} to {LAST_DAY}: {value!r}")
    return parsed.astimezone().replace(tzinfo=None) if parsed.tzinfo else parsed


def hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 366:
        raise argparse.ArgumentTypeError(f"not a number of hours from 0 to 8784: {value!r}")
    return hours


def seconds(low: float, high: float) -> Callable[[str], float]:
    """An argument type: a finite number of seconds from ``low`` to ``high`` (``inf`` and ``nan`` refused)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and low <= number <= high):
            raise argparse.ArgumentTypeError(f"not a number of seconds from {low:g} to {high:g}: {value!r}")
        return number

    return parse


def count(high: int) -> Callable[[str], int]:
    """An argument type: a whole number from 0 to ``high``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = -1
        if not 0 <= number <= high:
            raise argparse.ArgumentTypeError(f"not a whole number from 0 to {high}: {value!r}")
        return number

    return parse
