"""What the team decided about each error (a fingerprint): events kept in the tree, never only in a cache.

Every action is an event with who, when and what: ``resolve`` (now, or ``in_next_marker``: resolved
by the next ``mark``), ``unresolve``, ``ignore`` (for good, ``until_count`` more failures, or
``until`` a date), ``assign`` (a name; empty unassigns), ``note`` (text) and ``merge`` (this
fingerprint is the same error as ``into``). The index is rebuilt from the tree and loses nothing:
the events are read from it each time (they are few).

Where they are kept:
- a local tree: ``analysis/triage.jsonl``, one JSON object per line, appended under a lock beside it
  (``analysis/.triage.lock``) and flushed to disk, so that people acting at once each keep their event;
  a line a killed writer left half-written is skipped and said, never fatal;
- an ``s3://`` tree: one object per event under ``analysis/triage/`` (no lock needed: each event
  has its own key, made of its time and a random id).
The file is read by the guarded reader (a FIFO or a device is refused, never waited on).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock

from loaders.core.files import UnreadableFile, read_any_file

TRIAGE_PATH = Path("analysis") / "triage.jsonl"
TRIAGE_PREFIX = "analysis/triage/"  # under an s3:// tree: one object per event
TRIAGE_MAX_BYTES = 64 << 20
LOCK_SECONDS = 30
ACTIONS = ("resolve", "unresolve", "ignore", "assign", "note", "merge")
MAX_TEXT_CHARS = 2000
MAX_NAME_CHARS = 120
MAX_UNTIL_COUNT = 1_000_000


class TriageError(ValueError):
    """An action that cannot be recorded as given (the message says why)."""


@dataclass(frozen=True)
class TriageEvent:
    """One decision: ``action`` on ``fingerprint`` by ``who`` at ``at`` (local time), with its details:
    ``assignee`` (assign), ``text`` (note), ``into`` (merge), ``until_count`` / ``until`` (ignore),
    ``in_next_marker`` (resolve)."""

    action: str
    fingerprint: str
    who: str
    at: datetime
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    assignee: str | None = None
    text: str | None = None
    into: str | None = None
    until_count: int | None = None
    until: date | None = None
    in_next_marker: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON (what the file holds): only the details it has."""
        data: dict[str, Any] = {
            "id": self.event_id,
            "at": self.at.isoformat(timespec="seconds"),
            "who": self.who,
            "action": self.action,
            "fingerprint": self.fingerprint,
        }
        details = {
            "assignee": self.assignee,
            "text": self.text,
            "into": self.into,
            "until_count": self.until_count,
            "until": self.until.isoformat() if self.until else None,
            "in_next_marker": self.in_next_marker or None,
        }
        return {**data, **{key: value for key, value in details.items() if value is not None}}

    def describe(self) -> str:
        """The event in words, for an activity trail: "resolved in the next marker", "assigned to Ana"."""
        if self.action == "resolve":
            return "resolved in the next marker" if self.in_next_marker else "resolved"
        if self.action == "unresolve":
            return "reopened"
        if self.action == "ignore":
            if self.until_count:
                return f"ignored until {self.until_count} more failures"
            return f"ignored until {self.until:%Y-%m-%d}" if self.until else "ignored"
        if self.action == "assign":
            return f"assigned to {self.assignee}" if self.assignee else "unassigned"
        if self.action == "merge":
            return f"merged into {self.into}"
        return f"noted: {self.text}"


def _clean_text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise TriageError(f"{what} must be text")
    cleaned = " ".join(value.split()) if what != "a note" else value.strip()
    if len(cleaned) > limit:
        raise TriageError(f"{what} has at most {limit} characters")
    return cleaned


def make_event(
    action: str,
    fingerprint: str,
    who: str,
    *,
    assignee: str | None = None,
    text: str | None = None,
    into: str | None = None,
    until_count: int | None = None,
    until: date | None = None,
    in_next_marker: bool = False,
    at: datetime | None = None,
) -> TriageEvent:
    """A checked event (TriageError saying why when it cannot be one)."""
    if action not in ACTIONS:
        raise TriageError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    fingerprint = _clean_text(fingerprint, "a fingerprint", MAX_NAME_CHARS)
    if not fingerprint:
        raise TriageError("an action needs the error's fingerprint")
    who = _clean_text(who, "who", MAX_NAME_CHARS) or "someone"
    if action == "assign":
        assignee = _clean_text(assignee or "", "an assignee", MAX_NAME_CHARS)
    elif assignee:
        raise TriageError("only assign takes an assignee")
    if action == "note":
        text = _clean_text(text or "", "a note", MAX_TEXT_CHARS)
        if not text:
            raise TriageError("a note needs text")
    elif text:
        raise TriageError("only note takes text")
    if action == "merge":
        into = _clean_text(into or "", "the fingerprint merged into", MAX_NAME_CHARS)
        if not into or into == fingerprint:
            raise TriageError("merge needs another fingerprint to merge into")
    elif into:
        raise TriageError("only merge takes a fingerprint to merge into")
    if action == "ignore":
        if until_count is not None and until is not None:
            raise TriageError("ignore until a count or until a date, not both")
        if until_count is not None and not 1 <= until_count <= MAX_UNTIL_COUNT:
            raise TriageError(f"ignore until 1 to {MAX_UNTIL_COUNT:,} more failures")
    elif until_count is not None or until is not None:
        raise TriageError("only ignore takes an until")
    if in_next_marker and action != "resolve":
        raise TriageError("only resolve can wait for the next marker")
    moment = (at or datetime.now()).replace(microsecond=0)
    return TriageEvent(
        action, fingerprint, who, moment, uuid.uuid4().hex, assignee, text, into, until_count, until, in_next_marker
    )


def parse_event(entry: Any) -> TriageEvent:
    """The event an entry of the file holds; TriageError when it is not one."""
    if not isinstance(entry, dict):
        raise TriageError(f"an entry is {type(entry).__name__}, not an object")
    try:
        at = datetime.fromisoformat(entry["at"])
        until = date.fromisoformat(entry["until"]) if entry.get("until") else None
        count = entry.get("until_count")
        if count is not None and (type(count) is not int):
            raise TriageError("until_count is not a number")
        event = make_event(
            entry["action"],
            entry["fingerprint"],
            entry.get("who") or "someone",
            assignee=entry.get("assignee"),
            text=entry.get("text"),
            into=entry.get("into"),
            until_count=count,
            until=until,
            in_next_marker=bool(entry.get("in_next_marker")),
            at=at.astimezone().replace(tzinfo=None) if at.tzinfo else at,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TriageError(f"not a triage event ({exc})") from None
    event_id = entry.get("id")
    return TriageEvent(**{**event.__dict__, "event_id": event_id if isinstance(event_id, str) else event.event_id})


@dataclass
class TriageLog:
    """The tree's events, oldest first, and what could not be read (in words)."""

    events: list[TriageEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def triage_file(root: str | os.PathLike[str]) -> Path:
    """Where a local tree keeps its events."""
    return Path(root) / TRIAGE_PATH


def _is_remote(root: str | os.PathLike[str]) -> bool:
    return str(root).startswith("s3://")


def read_triage(root: str | os.PathLike[str]) -> TriageLog:
    """Every event of the tree at ``root`` (a directory or an s3:// prefix), oldest first."""
    found = TriageLog()
    for where, raw in _raw_entries(root, found.problems):
        try:
            found.events.append(parse_event(orjson.loads(raw)))
        except (orjson.JSONDecodeError, TriageError) as exc:
            found.problems.append(f"triage event skipped ({where}): {str(exc)[:120]}")
    found.events.sort(key=lambda event: event.at)  # stable: the file's order among events of one second
    return found


def _raw_entries(root: str | os.PathLike[str], problems: list[str]) -> list[tuple[str, bytes]]:
    if _is_remote(root):
        from loaders.annotations.remote import read_event_objects

        return read_event_objects(str(root), TRIAGE_PREFIX, problems)
    path = triage_file(root)
    try:
        raw = read_any_file(path, TRIAGE_MAX_BYTES)
    except FileNotFoundError:
        return []
    except UnreadableFile as exc:
        problems.append(f"triage not read: {path}: {exc}")
        return []
    return [(f"line {number}", line) for number, line in enumerate(raw.splitlines(), 1) if line.strip()]


def record_event(root: str | os.PathLike[str], event: TriageEvent) -> TriageEvent:
    """Keep ``event`` in the tree: a line appended under the lock (local), or an object of its own (s3://).

    Raises OSError when it cannot be written, filelock.Timeout when another writer holds the lock
    for LOCK_SECONDS.
    """
    payload = orjson.dumps(event.as_dict())
    if _is_remote(root):
        from loaders.annotations.remote import write_event_object

        write_event_object(str(root), TRIAGE_PREFIX, f"{event.at:%Y%m%dT%H%M%S}-{event.event_id}.json", payload)
        return event
    path = triage_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / ".triage.lock"), timeout=LOCK_SECONDS):
        if path.exists() and not path.is_file():
            raise OSError(f"{path} is not a regular file")
        # A line a killed writer left without its end is closed first, so that this event stays whole.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            size = os.fstat(fd).st_size
            needs_newline = size > 0 and _last_byte(path, size) != b"\n"
            os.write(fd, (b"\n" if needs_newline else b"") + payload + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    return event


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)


def triage_version(root: str | os.PathLike[str]) -> str:
    """A text that changes whenever an event is added, a change marker is recorded (a resolve "in the
    next marker" takes effect) or a day passes (an ignore until a date runs out): the key of caches of
    the tree's decisions."""
    return f"{_events_version(root)}|{_markers_version(root)}|{date.today().isoformat()}"


def _markers_version(root: str | os.PathLike[str]) -> str:
    if _is_remote(root):
        return "none"
    try:
        info = os.stat(Path(root) / "analysis" / "markers.json")
    except OSError:
        return "none"
    return f"{info.st_size}-{info.st_mtime_ns}"


def _events_version(root: str | os.PathLike[str]) -> str:
    if _is_remote(root):
        from loaders.annotations.remote import prefix_version

        try:
            return prefix_version(str(root), TRIAGE_PREFIX)
        except Exception as exc:  # object storage unreachable: the pages say so when they read the events
            return f"unavailable: {type(exc).__name__}"
    try:
        info = os.stat(triage_file(root))
    except OSError:
        return "none"
    return f"{info.st_size}-{info.st_mtime_ns}"
