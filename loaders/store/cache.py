"""Where index files live (the cache directory, one file per source), and what their errors mean."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import platformdirs

CACHE_DIR_ENV = "FIXTRAIL_CACHE_DIR"


# What reading a damaged index file raises (a disk-full error aside: see is_disk_full).
UNREADABLE_INDEX_ERRORS = (
    duckdb.IOException,
    duckdb.InternalException,
    duckdb.SerializationException,
    duckdb.FatalException,
)


def is_disk_full(error: BaseException) -> bool:
    """True when ``error`` says the disk (or a quota) is full: rebuilding would not help."""
    text = str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text or "ENOSPC" in text


class IndexBusyError(Exception):
    """Another process held the index's lock for longer than LOCK_TIMEOUT_SECONDS."""


class CacheDirError(OSError):
    """The index directory (``filename``) cannot be used: not a directory, not writable, a link loop, an
    unknown ``~user`` (``strerror`` says which)."""


def default_cache_dir() -> Path:
    """Return ``$FIXTRAIL_CACHE_DIR`` if set, else the user's cache directory for Fixtrail (``~`` expanded
    where it can be)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if not configured:
        return Path(platformdirs.user_cache_dir("fixtrail"))
    try:
        return Path(configured).expanduser()
    except RuntimeError:  # ~nosuchuser: said by usable_cache_dir
        return Path(configured)


def usable_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The index directory (default: default_cache_dir()) resolved, made if missing and checked writable
    by making and removing a file in it; CacheDirError saying why it cannot be used.

    Checked at once: a directory where no lock file can be made (``/proc``) would otherwise look like
    an index locked by another process for the lock's whole timeout.
    """
    given = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        path = given.expanduser().resolve(strict=False)
    except RuntimeError as exc:  # a link loop, an unknown ~user
        raise CacheDirError(errno.ELOOP, f"it cannot be resolved ({exc})", str(given)) from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".fixtrail-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CacheDirError(exc.errno or errno.EACCES, exc.strerror or str(exc), str(path)) from None
    return path


SPILL_SUFFIX = ".tmp-"  # an instance's spill directory: the index's path, this, its process id and a random part


def remove_stale_spill_directories(index_path: Path) -> None:
    """Remove the spill directories of processes that are gone (DuckDB leaves its own behind when a
    process is stopped by a signal: one per start of a dashboard would pile up)."""
    for directory in index_path.parent.glob(index_path.name + SPILL_SUFFIX + "*"):
        pid_text = directory.name[len(index_path.name + SPILL_SUFFIX) :].partition("-")[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        shutil.rmtree(directory, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def index_path_for(root: Path | str, cache_dir: Path) -> Path:
    """Return the index file for a resolved log tree (or a source's URL): one per source, named after its hash."""
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
    name = root.name if isinstance(root, Path) else str(root).rstrip("/").rpartition("/")[2]
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "logs"
    return cache_dir / f"{safe_name}-{digest}.duckdb"
