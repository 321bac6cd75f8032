"""The log tree on disk: which files are records, their stamps, and safe paths inside the tree."""

from __future__ import annotations

import errno
import os
import stat as stat_mode
import threading
import weakref
import zlib
from collections import OrderedDict
from pathlib import Path

from loaders.ingest.records import FileStamp

ATTEMPT_FOLDERS = ("failures", "successes")
SESSION_FOLDER = "sessions"
# The reason given for a file or directory whose name is not UTF-8 text (the index stores paths as
# text). Such an entry changes only by being renamed or removed, which its directory's mtime shows.
NON_TEXT_NAME = "name is not UTF-8 text"
# Ends the reason of a directory whose files are not read; its row's path is the directory with a
# trailing separator, in the directory itself (so that listing it again replaces the row).
FILES_NOT_READ = ": its files are not read"


class LogTreeError(Exception):
    """The log directory is missing or is not a directory; the message says which."""


def check_logs_dir(logs_dir: str | os.PathLike[str]) -> Path:
    """Return the resolved log directory, or raise LogTreeError with a message for people."""
    path = Path(logs_dir).expanduser()
    if not is_text(str(path)):
        raise LogTreeError(f"the log directory's path is not UTF-8 text: {printable_path(str(path))}")
    if not path.exists():
        raise LogTreeError(f"log directory not found: {path}")
    if not path.is_dir():
        raise LogTreeError(f"not a directory: {path}")
    return path.resolve()


def is_candidate(name: str) -> bool:
    """True for a name that may hold a record: ``*.json``, not hidden, not a temporary file."""
    return name.endswith(".json") and not name.startswith((".", "~")) and not name.endswith(".tmp.json")


def is_text(name: str) -> bool:
    """True when a name from the file system is UTF-8 text (undecodable bytes arrive as surrogates)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: str) -> str:
    """The path as text, its undecodable bytes written as ``\\xNN`` (for paths that are not UTF-8)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def stamp_entry(entry: os.DirEntry[str], root: Path, stat: bool = True) -> tuple[FileStamp | None, str | None]:
    """Return (stamp, None) for a regular file inside the tree, else (stamp or None, reason)."""
    try:
        if entry.is_symlink() and links_outside(entry.path, root):
            return FileStamp(entry.path, 0, 0), "link points outside the log tree"
        if not stat and entry.is_file():
            # a regular file (known from the directory listing): whoever reads it stats it then
            return FileStamp(entry.path, -1, -1), None
        return _stamp_of(entry.path, entry.stat())
    except OSError as exc:
        return FileStamp(entry.path, 0, 0), f"cannot be read: {exc.strerror or exc}"


def stamp_path(path: str, root: Path) -> tuple[FileStamp | None, str | None]:
    """What ``stamp_entry`` says of a path (stat-ed), or (None, None) when nothing is there any more."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return FileStamp(path, 0, 0), f"cannot be read: {exc.strerror or exc}"
    try:
        if stat_mode.S_ISLNK(info.st_mode):
            if links_outside(path, root):
                return FileStamp(path, 0, 0), "link points outside the log tree"
            info = os.stat(path)
    except OSError as exc:
        return FileStamp(path, 0, 0), f"cannot be read: {exc.strerror or exc}"
    return _stamp_of(path, info)


def links_outside(path: str, root: Path) -> bool:
    """True when ``path``, links followed, lies outside the tree at ``root``."""
    return not Path(os.path.realpath(path)).is_relative_to(root)


def _stamp_of(path: str, info: os.stat_result) -> tuple[FileStamp, str | None]:
    """The stamp of a stat-ed entry (links followed), and why it cannot be a record, if it cannot."""
    stamp = FileStamp(path, info.st_size, info.st_mtime_ns)
    if stat_mode.S_ISDIR(info.st_mode):
        return stamp, "is a directory, not a file"
    if not stat_mode.S_ISREG(info.st_mode):
        return stamp, "not a regular file"
    return stamp, None


def list_candidates(directory: str, root: Path, shard: int = 0, shards: int = 1) -> list[tuple[FileStamp, str | None]]:
    """Candidate files of one directory, each as (stamp, reject reason or None); regular files unstat-ed.

    Files and directories whose name is not UTF-8 text are rejected (``NON_TEXT_NAME``), under
    their printable path. With ``shards`` > 1, only the names whose CRC-32 falls in ``shard``: the
    shards of one directory, listed by different processes, partition it. A directory that cannot
    be listed, or a link out of the tree, gives one row that says so (its path ends with a separator).
    """
    marker = FileStamp(os.path.join(directory, ""), 0, 0)
    if links_outside(directory, root):
        return [(marker, f"link points outside the log tree{FILES_NOT_READ}")] if shard == 0 else []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [(marker, f"directory cannot be listed ({exc.strerror or exc}){FILES_NOT_READ}")] if shard == 0 else []
    listed = []
    for entry in entries:
        name = entry.name
        if shards > 1 and zlib.crc32(os.fsencode(name)) % shards != shard:
            continue
        if not is_text(name):
            if is_candidate(name):
                listed.append((FileStamp(printable_path(entry.path), 0, 0), NON_TEXT_NAME))
            elif _is_directory(entry):
                listed.append((FileStamp(printable_path(entry.path), 0, 0), f"{NON_TEXT_NAME}{FILES_NOT_READ}"))
        elif is_candidate(name):
            listed.append(stamp_entry(entry, root, stat=False))
    return listed


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def resolve_inside(root: Path, path: str | os.PathLike[str]) -> Path | None:
    """Return ``path`` resolved if it lies inside ``root`` (links followed), else None."""
    try:
        resolved = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    return Path(resolved) if _is_within(resolved, str(root)) else None


def _is_within(resolved: str, root: str) -> bool:
    return resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep)


class InsideOpener:
    """Opens files of a tree for reading, refusing any that lie outside it (fix recipes read thousands).

    Each directory is opened once and its descriptor kept (the latest MAX_DIRECTORIES): it is
    opened by its real path, checked to lie inside the root and to be the directory the path led
    to. A file is then opened relative to that descriptor without following a link: one stat of
    its directory (a directory, or any above it, swapped since leads elsewhere and is opened
    again) and one open, where resolving the whole path cost a stat per component. A file that is
    a link is resolved in full (resolve_inside). Safe to share between threads; ``close`` (or
    garbage collection) closes the kept descriptors.
    """

    MAX_DIRECTORIES = 64

    def __init__(self, root: Path):
        self.root = str(root)
        self._directories: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _close_descriptors, self._directories)

    def open(self, path: str | os.PathLike[str], flags: int) -> int | None:
        """A descriptor of ``path`` opened with ``flags`` if it lies inside the root, else None.

        Raises OSError when the file cannot be opened (missing, not readable); the caller closes
        the descriptor.
        """
        text = os.fspath(path)
        if "\x00" in text:
            return None
        directory, name = os.path.split(text)
        with self._lock:  # a descriptor closed by another thread must not be used here
            directory_fd = self._directory(directory)
            if directory_fd is None:
                return self._open_resolved(text, flags)
            try:
                return os.open(name, flags | os.O_NOFOLLOW, dir_fd=directory_fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
        return self._open_resolved(text, flags)  # a link: where it leads decides

    def close(self) -> None:
        """Close the kept directory descriptors (opened again when needed)."""
        with self._lock:
            _close_descriptors(self._directories)

    def _open_resolved(self, path: str, flags: int) -> int | None:
        resolved = resolve_inside(Path(self.root), path)
        return None if resolved is None else os.open(resolved, flags)

    def _directory(self, directory: str) -> int | None:
        """The kept descriptor of ``directory``, or None when it lies outside the root (or is odd)."""
        try:
            info = os.stat(directory)
        except (OSError, ValueError):
            return None
        known = self._directories.get(directory)
        if known and (known[1], known[2]) == (info.st_dev, info.st_ino) and self._still_inside(known[0]):
            self._directories.move_to_end(directory)
            return known[0]
        if known:
            os.close(self._directories.pop(directory)[0])
        real = os.path.realpath(directory)
        if not _is_within(real, self.root):
            return None
        try:
            descriptor = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return None
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):  # swapped meanwhile
            os.close(descriptor)
            return None
        self._directories[directory] = (descriptor, info.st_dev, info.st_ino)
        while len(self._directories) > self.MAX_DIRECTORIES:
            os.close(self._directories.popitem(last=False)[1][0])
        return descriptor

    def _still_inside(self, descriptor: int) -> bool:
        """Whether a kept directory still lies inside the root where it is now (moved out of the
        tree and linked back in, the path would still lead to it)."""
        try:
            where = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:  # no /proc: opened again each time, by where the path leads now
            return False
        return _is_within(where, self.root)


def _close_descriptors(directories: OrderedDict[str, tuple[int, int, int]]) -> None:
    while directories:
        os.close(directories.popitem()[1][0])
