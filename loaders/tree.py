"""The log tree on disk: which files are records, their stamps, and safe paths inside the tree."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from loaders.records import FileStamp

ATTEMPT_FOLDERS = ("failures", "successes")
SESSION_FOLDER = "sessions"


class LogTreeError(Exception):
    """The log directory is missing or is not a directory; the message says which."""


@dataclass
class TreeListing:
    """Every candidate file of the tree by folder, and the entries that cannot be records."""

    files: dict[str, list[FileStamp]] = field(default_factory=dict)
    rejected: list[tuple[FileStamp, str, str]] = field(default_factory=list)  # (stamp, folder, reason)


def check_logs_dir(logs_dir: str | os.PathLike[str]) -> Path:
    """Return the resolved log directory, or raise LogTreeError with a message for people."""
    path = Path(logs_dir).expanduser()
    if not path.exists():
        raise LogTreeError(f"log directory not found: {path}")
    if not path.is_dir():
        raise LogTreeError(f"not a directory: {path}")
    return path.resolve()


def _is_candidate(name: str) -> bool:
    return name.endswith(".json") and not name.startswith((".", "~")) and not name.endswith(".tmp.json")


def _stamp_entry(entry: os.DirEntry[str], root: Path) -> tuple[FileStamp | None, str | None]:
    """Return (stamp, None) for a regular file inside the tree, else (stamp or None, reason)."""
    try:
        if entry.is_symlink():
            target = Path(os.path.realpath(entry.path))
            if not target.is_relative_to(root):
                return FileStamp(entry.path, 0, 0), "link points outside the log tree"
        info = entry.stat()
    except OSError as exc:
        return FileStamp(entry.path, 0, 0), f"cannot be read: {exc.strerror or exc}"
    stamp = FileStamp(entry.path, info.st_size, info.st_mtime_ns)
    if entry.is_dir():
        return stamp, "is a directory, not a file"
    if not entry.is_file():
        return stamp, "not a regular file"
    return stamp, None


def _scan_folder(folder_path: Path, folder: str, root: Path, listing: TreeListing, depth: int) -> None:
    try:
        entries = list(os.scandir(folder_path))
    except OSError:
        return
    for entry in entries:
        if _is_candidate(entry.name):
            stamp, reason = _stamp_entry(entry, root)
            if reason:
                listing.rejected.append((stamp, folder, reason))
            else:
                listing.files[folder].append(stamp)
        elif depth > 0 and not entry.name.startswith("."):
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                _scan_folder(Path(entry.path), folder, root, listing, depth - 1)


def list_tree(root: Path) -> TreeListing:
    """List the attempt files (failures/*/, successes/*/, and files directly below) and session files.

    Output: a TreeListing whose ``files`` maps folder name to stamps; entries named ``*.json``
    that are not regular files inside the tree are in ``rejected`` with a reason.
    """
    listing = TreeListing(files={name: [] for name in (*ATTEMPT_FOLDERS, SESSION_FOLDER)})
    for folder in ATTEMPT_FOLDERS:
        _scan_folder(root / folder, folder, root, listing, depth=1)
    _scan_folder(root / SESSION_FOLDER, SESSION_FOLDER, root, listing, depth=0)
    return listing


def resolve_inside(root: Path, path: str | os.PathLike[str]) -> Path | None:
    """Return ``path`` resolved if it lies inside ``root`` (links followed), else None."""
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) else None
