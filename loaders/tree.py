"""The log tree on disk: which files are records, their stamps, and safe paths inside the tree."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from loaders.records import FileStamp

ATTEMPT_FOLDERS = ("failures", "successes")
SESSION_FOLDER = "sessions"


class LogTreeError(Exception):
    """The log directory is missing or is not a directory; the message says which."""


def check_logs_dir(logs_dir: str | os.PathLike[str]) -> Path:
    """Return the resolved log directory, or raise LogTreeError with a message for people."""
    path = Path(logs_dir).expanduser()
    if not path.exists():
        raise LogTreeError(f"log directory not found: {path}")
    if not path.is_dir():
        raise LogTreeError(f"not a directory: {path}")
    return path.resolve()


def is_candidate(name: str) -> bool:
    """True for a name that may hold a record: ``*.json``, not hidden, not a temporary file."""
    return name.endswith(".json") and not name.startswith((".", "~")) and not name.endswith(".tmp.json")


def stamp_entry(entry: os.DirEntry[str], root: Path, stat: bool = True) -> tuple[FileStamp | None, str | None]:
    """Return (stamp, None) for a regular file inside the tree, else (stamp or None, reason)."""
    try:
        if entry.is_symlink():
            target = Path(os.path.realpath(entry.path))
            if not target.is_relative_to(root):
                return FileStamp(entry.path, 0, 0), "link points outside the log tree"
        if not stat and entry.is_file():
            # a regular file (known from the directory listing): whoever reads it stats it then
            return FileStamp(entry.path, -1, -1), None
        info = entry.stat()
    except OSError as exc:
        return FileStamp(entry.path, 0, 0), f"cannot be read: {exc.strerror or exc}"
    stamp = FileStamp(entry.path, info.st_size, info.st_mtime_ns)
    if entry.is_dir():
        return stamp, "is a directory, not a file"
    if not entry.is_file():
        return stamp, "not a regular file"
    return stamp, None


def list_candidates(directory: str, root: Path, shard: int = 0, shards: int = 1) -> list[tuple[FileStamp, str | None]]:
    """Candidate files of one directory, each as (stamp, reject reason or None); regular files unstat-ed.

    With ``shards`` > 1, only the names whose CRC-32 falls in ``shard``: the shards of one
    directory, listed by different processes, partition it. A directory that cannot be listed
    gives nothing.
    """
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    return [
        stamp_entry(entry, root, stat=False)
        for entry in entries
        if is_candidate(entry.name) and (shards == 1 or zlib.crc32(entry.name.encode()) % shards == shard)
    ]


def resolve_inside(root: Path, path: str | os.PathLike[str]) -> Path | None:
    """Return ``path`` resolved if it lies inside ``root`` (links followed), else None."""
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) else None
