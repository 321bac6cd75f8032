"""Finding what changed in a log tree since the index last saw it, without stat-ing every file.

A directory's mtime changes when a file is added, removed or renamed into it (the project's writer
replaces files by rename), so a directory whose mtime is the one stored holds the same files. Two
kinds of file are rewritten in place by writers of the original format and are checked one by one
even in an unchanged directory: unfixed failures (``fixed_by`` is set by rewriting them) and the
session files of recently active sessions; skipped files are checked too, to load them once they
become valid. A directory modified within RACY_SECONDS of the scan is not trusted next time (its
mtime may not move again for a change made within the same clock tick). ``full=True`` ignores all
of this and stats every file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from loaders.records import FileStamp
from loaders.tree import ATTEMPT_FOLDERS, SESSION_FOLDER, is_candidate, stamp_entry

RACY_SECONDS = 2.0
RECENT_SESSION_SECONDS = 600


@dataclass(frozen=True)
class DirState:
    """A directory of the tree: its folder (failures, successes, sessions) and mtime."""

    path: str
    folder: str
    mtime_ns: int


@dataclass
class ChangeSet:
    """Files to (re)parse, paths to drop, and the directory mtimes to remember."""

    stale: list[tuple[FileStamp, str, str | None]] = field(default_factory=list)  # (stamp, folder, reject reason)
    replaced: list[str] = field(default_factory=list)  # stale paths the index already holds
    removed: list[str] = field(default_factory=list)
    sessions_listed: bool = False  # every session file was compared in this scan
    dir_stamps: list[tuple[str, int | None]] = field(default_factory=list)
    gone_dirs: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when anything is to be parsed or dropped."""
        return bool(self.stale or self.removed)


def tree_dirs(root: Path) -> list[DirState]:
    """The folder roots and their date directories, each with its mtime."""
    found: list[DirState] = []
    for folder in (*ATTEMPT_FOLDERS, SESSION_FOLDER):
        top = root / folder
        try:
            found.append(DirState(str(top), folder, top.stat().st_mtime_ns))
        except OSError:
            continue
        if folder == SESSION_FOLDER:
            continue
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.name.startswith(".") or is_candidate(entry.name) or not entry.is_dir(follow_symlinks=False):
                    continue
                found.append(DirState(entry.path, folder, entry.stat(follow_symlinks=False).st_mtime_ns))
            except OSError:
                continue
    return found


def _list_dir(state: DirState, root: Path) -> dict[str, tuple[FileStamp, str | None]]:
    """Candidate files of one directory: path -> (stamp, reject reason).

    Regular files are not stat-ed here (their stamp says -1): new ones are stat-ed by the parser
    on the opened file, known ones by the caller.
    """
    listed: dict[str, tuple[FileStamp, str | None]] = {}
    try:
        entries = list(os.scandir(state.path))
    except OSError:
        return listed
    for entry in entries:
        if is_candidate(entry.name):
            listed[entry.path] = stamp_entry(entry, root, stat=False)
    return listed


def _stat(path: str) -> FileStamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return FileStamp(path, info.st_size, info.st_mtime_ns)


class ChangeFinder:
    """Compares the tree with the index attached as ``idx`` on ``connection``."""

    def __init__(self, root: Path, connection: duckdb.DuckDBPyConnection):
        self.root = root
        self.connection = connection

    def _stored_stamps(self, sql: str, params: list) -> dict[str, tuple[int, int]]:
        return {path: (size, mtime) for path, size, mtime in self.connection.execute(sql, params).fetchall()}

    def find(self, full: bool) -> ChangeSet:
        """Everything new, changed or removed since the last refresh."""
        changes = ChangeSet()
        known = dict(self.connection.execute("SELECT path, mtime_ns FROM idx.dir_stamps").fetchall())
        dirs = tree_dirs(self.root)
        present = {d.path for d in dirs}
        changed = [d for d in dirs if full or known.get(d.path) != d.mtime_ns]
        changes.gone_dirs = [path for path in known if path not in present]
        recheck = [d.path for d in changed] + changes.gone_dirs
        stored = self._stored_stamps(
            "SELECT path, size, mtime_ns FROM idx_manifest WHERE list_contains(?, dir)", [recheck]
        )
        now_ns = time.time_ns()
        for state in changed:
            names_only = state.folder == SESSION_FOLDER and not full and state.path in known
            self._compare_dir(state, names_only, stored, changes)
            changes.sessions_listed |= state.folder == SESSION_FOLDER and not names_only
            trusted = now_ns - state.mtime_ns > RACY_SECONDS * 1e9
            changes.dir_stamps.append((state.path, state.mtime_ns if trusted else None))
        changes.removed += [path for path, _ in stored.items() if os.path.dirname(path) in changes.gone_dirs]
        if not full:
            self._check_watched(recheck, changes)
        return changes

    def _compare_dir(
        self,
        state: DirState,
        names_only: bool,
        stored: dict[str, tuple[int, int]],
        changes: ChangeSet,
    ) -> None:
        listed = _list_dir(state, self.root)
        for path, (stamp, reason) in listed.items():
            known = stored.get(path)
            if known is None:
                changes.stale.append((stamp, state.folder, reason))
                continue
            if names_only:
                continue
            if stamp.size < 0:
                stamp = _stat(path)
                if stamp is None:
                    changes.removed.append(path)
                    continue
            if known != (stamp.size, stamp.mtime_ns):
                changes.stale.append((stamp, state.folder, reason))
                changes.replaced.append(path)
        changes.removed += [path for path in stored if os.path.dirname(path) == state.path and path not in listed]

    def _check_watched(self, rechecked_dirs: list[str], changes: ChangeSet) -> None:
        """Files that writers rewrite in place, in directories whose mtime did not change."""
        watched = self.connection.execute(
            WATCHED_FILES_SQL,
            [
                rechecked_dirs,
                datetime.now() - timedelta(seconds=RECENT_SESSION_SECONDS),
                rechecked_dirs,
                rechecked_dirs,
            ],
        ).fetchall()
        for path, size, mtime, folder in watched:
            stamp = _stat(path)
            if stamp is None:
                changes.removed.append(path)
            elif (stamp.size, stamp.mtime_ns) != (size, mtime):
                changes.stale.append((stamp, folder, None))
                changes.replaced.append(path)

    def session_files_of(self, session_ids: list[str]) -> tuple[list[FileStamp], list[str]]:
        """Session files of these sessions that are new or changed (after their attempts were parsed).

        Returns (stale stamps, the paths among them that the index already holds).
        """
        if not session_ids:
            return [], []
        sessions_dir = self.root / SESSION_FOLDER
        paths = [str(sessions_dir / f"{sid}.json") for sid in session_ids if "/" not in sid and "\\" not in sid]
        stored = self._stored_stamps(
            "SELECT path, size, mtime_ns FROM idx_manifest WHERE list_contains(?, path)", [paths]
        )
        stale, replaced = [], []
        for path in paths:
            stamp = _stat(path)
            if stamp is not None and stored.get(path) != (stamp.size, stamp.mtime_ns):
                stale.append(stamp)
                if path in stored:
                    replaced.append(path)
        return stale, replaced


WATCHED_FILES_SQL = """
SELECT path, size, mtime_ns, folder FROM idx.attempt_files
WHERE folder = 'failures' AND coalesce(trim(fixed_by), '') = '' AND NOT list_contains(?, dir)
UNION ALL
SELECT path, size, mtime_ns, 'sessions' FROM idx.session_files
WHERE session_id IN (SELECT session_id FROM idx.attempt_files WHERE timestamp > ?) AND NOT list_contains(?, dir)
UNION ALL
SELECT path, size, mtime_ns, folder FROM idx.skipped_files WHERE NOT list_contains(?, dir)
"""
