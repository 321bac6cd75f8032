"""Change markers: "system_context v12" at a time, kept in the tree's ``analysis/markers.json``.

Only the ``mark`` command writes the file, atomically (a temporary file in the same directory, then
``os.replace``): a reader sees the old list or the new one, never half of one. Readers that find the
file missing or unreadable see no markers.

File format: ``{"markers": [{"label": "system_context v12", "at": "2026-11-20T09:00:00",
"created_at": "2026-11-20T09:01:12"}]}`` (local times without an offset, as the logs write them).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MARKERS_PATH = Path("analysis") / "markers.json"
MAX_LABEL_CHARS = 200


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


def markers_file(root: str | os.PathLike[str]) -> Path:
    """Where the markers of the tree at ``root`` are kept."""
    return Path(root) / MARKERS_PATH


def _local(value: datetime) -> datetime:
    """A time as local time without an offset (how the logs and the index keep times)."""
    return value.astimezone().replace(tzinfo=None) if value.tzinfo else value


def _parse(entry: Any) -> Marker | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or not entry["label"].strip():
        return None
    try:
        at = _local(datetime.fromisoformat(entry["at"]))
    except (TypeError, ValueError):
        return None
    try:
        created = _local(datetime.fromisoformat(entry["created_at"])) if entry.get("created_at") else None
    except (TypeError, ValueError):
        created = None
    return Marker(entry["label"].strip(), at, created)


def read_markers(root: str | os.PathLike[str]) -> list[Marker]:
    """The markers of the tree, oldest first; none when the file is missing or unreadable
    (entries without a label or a valid time are left out)."""
    try:
        data = json.loads(markers_file(root).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    entries = data.get("markers") if isinstance(data, dict) else None
    markers = [m for m in (_parse(entry) for entry in entries or []) if m is not None]
    return sorted(markers, key=lambda m: (m.at, m.label))


def add_marker(root: str | os.PathLike[str], label: str, at: datetime | None = None) -> Marker:
    """Record a change called ``label`` at ``at`` (default now) in the tree's markers file, atomically.

    Raises ValueError for an empty or overlong label, OSError when the file cannot be written.
    """
    label = " ".join(label.split())
    if not label:
        raise ValueError("a marker needs a label")
    if len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"a marker's label has at most {MAX_LABEL_CHARS} characters")
    now = datetime.now().replace(microsecond=0)
    marker = Marker(label, _local(at) if at else now, now)
    markers = [*read_markers(root), marker]
    path = markers_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps({"markers": [m.as_dict() for m in markers]}, indent=2, ensure_ascii=False)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=".markers-", suffix=".tmp", delete=False
    ) as handle:
        handle.write(document + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.replace(handle.name, path)
    except OSError:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return marker


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
