"""The CLI's triage: ``triage [--state S]`` lists errors with the team's decisions; ``resolve``,
``unresolve``, ``ignore``, ``assign``, ``note`` and ``merge`` record one (loaders.annotations.triage)."""

from __future__ import annotations

import argparse
import getpass
import os
from datetime import datetime
from typing import Any

from loaders.analysis.triage import UnknownFingerprint, record_action, triage_items
from loaders.annotations.triage import TriageError
from loaders.store.index import LogIndex
from loaders.text.secrets import clip

ACTION_COMMANDS = ("resolve", "unresolve", "ignore", "assign", "note", "merge")
USER_ENV = "FIXTRAIL_USER"
PAST_TENSE = {
    "resolve": "resolved",
    "unresolve": "reopened",
    "ignore": "ignored",
    "assign": "assigned",
    "note": "noted",
    "merge": "merged",
}


class TriageCommandError(ValueError):
    """A triage command that cannot run as given (the message says why)."""


def acting_person(given: str | None) -> str:
    """Who acts: ``--by``, else ``$FIXTRAIL_USER``, else the login name."""
    if given and given.strip():
        return given.strip()
    try:
        return os.environ.get(USER_ENV, "").strip() or getpass.getuser()
    except (KeyError, OSError):
        return "someone"


def run_action(args: argparse.Namespace, index: LogIndex) -> dict[str, Any]:
    """Record the action the command names; the event as JSON (TriageCommandError when it cannot be)."""
    try:
        event = record_action(
            index,
            args.command,
            args.fingerprint,
            acting_person(args.by),
            assignee=getattr(args, "assignee", None),
            text=getattr(args, "text", None),
            into=getattr(args, "into", None),
            until_count=getattr(args, "until_count", None),
            until=getattr(args, "until", None),
            in_next_marker=getattr(args, "next_marker", False),
        )
    except UnknownFingerprint as exc:
        raise TriageCommandError(f"{exc} (see: triage --state all)") from None
    except TriageError as exc:
        raise TriageCommandError(str(exc)) from None
    return {**event.as_dict(), "what": event.describe()}


def action_text(event: dict[str, Any]) -> str:
    """One line: what was recorded, on which error, by whom."""
    when = event["at"].replace("T", " ")
    return f"✓ {event['fingerprint']}: {one_line(event['what'])} (by {one_line(event['who'])}, {when})"


def triage_listing(index: LogIndex, wanted: str, as_of: datetime, now: datetime | None = None) -> dict[str, Any]:
    """The errors under the triage filter ``wanted``, each with its decisions, and the events not read.

    ``as_of`` ends the errors' 7-day numbers; ``now`` (default: the clock) decides the ignores that
    run until a date."""
    errors, problems = triage_items(index, wanted, as_of=as_of, now=now)
    return {"state": wanted, "errors": errors, "problems": problems}


def one_line(text: object) -> str:
    """Text a person typed (a note, a name) as one line for a terminal: line breaks become " / " and
    control characters (escape sequences that would recolour or retitle the terminal) become "?"."""
    flat = " / ".join(str(text).splitlines())
    return "".join(c if c.isprintable() else "?" for c in flat)


def triage_text(listing: dict[str, Any]) -> str:
    """The listing as text: one line per error (state, count, last seen, assignee, error, fingerprint)."""
    lines = [f"ERRORS ({listing['state']}): {len(listing['errors'])}", ""]
    for error in listing["errors"]:
        who = f" @{error['assignee']}" if error["assignee"] else ""
        lines.append(
            f"[{error['triage']:<10}] {error['count']:>5}x  last {error['last_seen'][:16].replace('T', ' ')}"
            f"{one_line(who)}  {one_line(clip(error['error'], 90))}  ({error['fingerprint']})"
        )
        lines += [
            f"      {event['at'][:16].replace('T', ' ')} {one_line(event['who'])}: {one_line(event['what'])}"
            for event in error["events"][-3:]
        ]
    lines += [f"warning: {problem}" for problem in listing["problems"]]
    return "\n".join(lines)
