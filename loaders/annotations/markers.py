"""Change markers: "system_context v12" at a time, kept in the tree's ``analysis/markers.json``.

Only the ``mark`` command writes the file: under a lock beside it (``analysis/.markers.lock``), it
reads the list, adds one marker and replaces the file atomically (``loaders.core.files``), so that
concurrent ``mark`` runs each keep their marker and a reader sees the old list or the new one,
never half of one. The file is read by the guarded reader: a FIFO, a device, a link to
``/dev/zero`` or a file over MARKERS_MAX_BYTES is refused with a reason, never waited on or read
whole. Entries that are not markers (no label, a time that is not ISO 8601 or cannot be a local
time, the wrong type) are skipped and listed; a file ``mark`` cannot read, or whose entries it would
drop, is first kept aside as ``markers.json.unreadable-<time>`` and the command says so.

File format: ``{"markers": [{"label": "system_context v12", "at": "2026-11-20T09:00:00",
"created_at": "2026-11-20T09:01:12"}]}`` (local times without an offset, as the logs write them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from loaders.core.files import StateFileError, json_bytes, read_state_json, write_atomically

if TYPE_CHECKING:
    import pandas as pd

MARKERS_PATH = Path("analysis") / "markers.json"
MAX_LABEL_CHARS = 200
MARKERS_MAX_BYTES = 4 << 20
LOCK_SECONDS = 30
# Cohort texts separate their parts with these (loaders.analysis.cohorts): a label holding one could not be named.
COHORT_SEPARATORS = ("&", ",", "=")


@dataclass(frozen=True)
class Marker:
    """One change: what changed (``label``) and when (``at``, local time)."""

    label: str
    at: datetime
    created_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The marker as JSON: label, at and created_at as ISO text."""
        return {
            "label": self.label,
            "at": self.at.isoformat(timespec="seconds"),
            "created_at": self.created_at.isoformat(timespec="seconds") if self.created_at else None,
        }


@dataclass
class MarkerList:
    """What the markers file holds: its markers in the file's order, and what was skipped or refused, in words."""

    in_file_order: list[Marker] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def markers(self) -> list[Marker]:
        """The markers, oldest first."""
        return sorted(self.in_file_order, key=lambda m: (m.at, m.label))


def markers_file(root: str | os.PathLike[str]) -> Path:
    """Where the markers of the tree at ``root`` are kept."""
    return Path(root) / MARKERS_PATH


def _local(value: datetime) -> datetime:
    """A time as local time without an offset (how the logs and the index keep times)."""
    return value.astimezone().replace(tzinfo=None) if value.tzinfo else value


def _time(value: Any) -> datetime:
    """An ISO 8601 text as local time; ValueError when it is not one (or is out of range once made local)."""
    if not isinstance(value, str):
        raise ValueError("not text")
    try:
        return _local(datetime.fromisoformat(value))
    except OverflowError as exc:
        raise ValueError("out of range") from exc


def _parse(entry: Any) -> tuple[Marker | None, str | None]:
    """(the marker, None) for a good entry, else (None, why it is skipped)."""
    if not isinstance(entry, dict):
        return None, f"an entry is {type(entry).__name__}, not an object"
    label = entry.get("label")
    if not isinstance(label, str) or not label.strip():
        return None, "an entry has no label"
    try:
        at = _time(entry.get("at"))
    except ValueError:
        return None, f"marker {label.strip()[:80]!r}: its time is not ISO 8601 ({str(entry.get('at'))[:40]!r})"
    try:
        created = _time(entry["created_at"]) if entry.get("created_at") else None
    except ValueError:
        created = None
    return Marker(label.strip(), at, created), None


def load_markers(root: str | os.PathLike[str]) -> MarkerList:
    """The tree's markers, oldest first, and the problems met: the file refused, entries skipped."""
    path = markers_file(root)
    try:
        data = read_state_json(path, MARKERS_MAX_BYTES)
    except StateFileError as exc:
        return MarkerList(problems=[f"markers not read: {exc}"])
    if data is None:
        return MarkerList()
    entries = data.get("markers") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return MarkerList(problems=[f'markers not read: {path}: no list under "markers"'])
    found = MarkerList()
    for entry in entries:
        marker, problem = _parse(entry)
        if marker is not None:
            found.in_file_order.append(marker)
        else:
            found.problems.append(f"marker skipped: {problem}")
    return found


def read_markers(root: str | os.PathLike[str]) -> list[Marker]:
    """The markers of the tree, oldest first; none when the file is missing or refused
    (``load_markers`` also says what was skipped)."""
    return load_markers(root).markers


def check_label(label: str) -> str:
    """The label as ``mark`` keeps it (blanks collapsed); ValueError saying why it cannot be one."""
    label = " ".join(label.split())
    if not label:
        raise ValueError("a marker needs a label")
    if len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"a marker's label has at most {MAX_LABEL_CHARS} characters")
    try:
        label.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a marker's label must be UTF-8 text") from None
    used = [sep for sep in COHORT_SEPARATORS if sep in label]
    if used:
        raise ValueError(
            f"a marker's label cannot hold {' '.join(repr(sep) for sep in used)}: "
            "cohorts (before=LABEL, after=LABEL) separate their parts with & , ="
        )
    return label


@dataclass(frozen=True)
class MarkResult:
    """A marker kept, and where the previous file was kept aside because it could not be read whole (or None)."""

    marker: Marker
    kept_aside: Path | None
    problems: tuple[str, ...]


def add_marker(root: str | os.PathLike[str], label: str, at: datetime | None = None) -> Marker:
    """Record a change called ``label`` at ``at`` (default now); see record_marker, which also says
    what it skipped and kept aside."""
    return record_marker(root, label, at).marker


def record_marker(root: str | os.PathLike[str], label: str, at: datetime | None = None) -> MarkResult:
    """Record a change called ``label`` at ``at`` (default now) in the tree's markers file.

    Read, add and replace happen under the markers' lock. Raises ValueError for a label ``check_label``
    refuses, OSError when the file cannot be written, filelock.Timeout when another ``mark`` holds the
    lock for LOCK_SECONDS.
    """
    label = check_label(label)
    now = datetime.now().replace(microsecond=0)
    marker = Marker(label, _local(at) if at else now, now)
    path = markers_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / ".markers.lock"), timeout=LOCK_SECONDS):
        current = load_markers(root)
        aside = None
        if current.problems and os.path.lexists(path):
            aside = path.with_name(f"{path.name}.unreadable-{now:%Y%m%dT%H%M%S}-{os.getpid()}")
            os.replace(path, aside)
        markers = [*current.in_file_order, marker]
        write_atomically(path, json_bytes({"markers": [m.as_dict() for m in markers]}))
    return MarkResult(marker, aside, tuple(current.problems))


def find_marker(markers: list[Marker], name: str) -> Marker:
    """The marker called ``name`` (the newest of that label); ValueError naming the known ones if none."""
    found = [m for m in markers if m.label == name.strip()]
    if not found:
        known = ", ".join(repr(m.label) for m in markers) or "none recorded"
        raise ValueError(f"no marker called {name!r} (markers: {known})")
    return found[-1]


def markers_frame(root: str | os.PathLike[str]) -> pd.DataFrame:
    """The tree's markers as a frame, oldest first (for charts). Output columns: label, at, created_at."""
    import pandas as pd

    rows = [{"label": m.label, "at": m.at, "created_at": m.created_at} for m in read_markers(root)]
    return pd.DataFrame(rows, columns=["label", "at", "created_at"])
