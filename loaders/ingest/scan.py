"""Finding what changed in a log tree since the index last saw it, without stat-ing every file.

A directory's mtime changes when a file is added, removed or renamed into it (the project's writer
replaces files by rename), so a directory whose mtime is the one stored holds the same files. Two
kinds of file are rewritten in place by writers of the original format: a failure, when a retry that
fixed it is logged (``fixed_by``), and a session file, whenever an attempt of its session is logged.
Both rewrites follow the logging of an attempt file at once, so the files checked one by one, even
in an unchanged directory, are: failures without ``fixed_by`` that are the last attempt of their
session (the only ones a future retry can name) or whose session logged an attempt in the last
RECENT_SESSION_SECONDS (by its timestamp), and the session files of such recent sessions. After new
attempt files are parsed, the failures and session file of their sessions are checked as well
(``rewritten_files_of``). Skipped files are checked too, to load them once they become valid.
The last failures of sessions that are not recent are *dormant*: a writer rewrites one only when a
retry is logged, and the retry's new file leads the scan to them (above); they are watched for
writers that do otherwise: at most once every DORMANT_CHECK_SECONDS, by all the processes of an index
together (the time is kept in the index; a dashboard or an API also keeps it itself), the next
DORMANT_SLICE_FILES of them in path order are stat-ed, and the next check goes on where it stopped
(kept in the index too). At 1,000,000 sessions they are 147,000 files: stat-ing them all took 1.8 s
of a scan, which each CLI command made; a slice costs the same at every size, and a rewrite of a
dormant failure is found within a sweep (DORMANT_CHECK_SECONDS times the slices: 7.5 minutes of
steady use at 1,000,000 sessions). A
directory modified within RACY_SECONDS of the scan is not trusted next time (its mtime may not move
again for a change made within the same clock tick). ``full=True`` ignores all of this and stats
every file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from loaders.ingest.parsing import DirectoryTask
from loaders.ingest.records import FileStamp
from loaders.ingest.tree import (
    ATTEMPT_FOLDERS,
    FILES_NOT_READ,
    NON_TEXT_NAME,
    SESSION_FOLDER,
    is_candidate,
    is_text,
    links_outside,
    list_candidates,
    stamp_path,
)

RACY_SECONDS = 2.0
RECENT_SESSION_SECONDS = 600
DORMANT_CHECK_SECONDS = 30.0
DORMANT_SLICE_FILES = 10_000


@dataclass(frozen=True)
class DirState:
    """A directory of the tree: its folder (failures, successes, sessions) and mtime."""

    path: str
    folder: str
    mtime_ns: int
    linked: bool = False  # a link to a directory (its target's mtime is the one above)


@dataclass
class ChangeSet:
    """Files to (re)parse, paths to drop, and the directory mtimes to remember."""

    stale: list[tuple[FileStamp, str, str | None]] = field(default_factory=list)  # (stamp, folder, reject reason)
    replaced: list[str] = field(default_factory=list)  # stale paths the index already holds
    removed: list[str] = field(default_factory=list)
    sessions_listed: bool = False  # every session file was compared in this scan
    every_file_checked: bool = False  # every file was listed and compared (full scan, first load)
    dir_stamps: list[tuple[str, int | None]] = field(default_factory=list)
    gone_dirs: list[str] = field(default_factory=list)
    directories: list[DirectoryTask] = field(default_factory=list)  # to list and parse whole (a first load)
    # (scope, mark) pairs a source keeps in the index to know where to list from next time (an
    # object-storage prefix and the last key seen in it, a table and its last version read).
    marks: list[tuple[str, str]] = field(default_factory=list)
    # Each stale item is one record whose row has the item's path (files, objects); False when an item
    # holds many rows (a table's data file): the facts are then derived again for every session.
    items_are_records: bool = True
    # Drop every row the index holds before the stale items are added (a source's full reload).
    replace_all: bool = False

    @property
    def changed(self) -> bool:
        """True when anything is to be parsed or dropped."""
        return bool(self.stale or self.removed or self.directories or self.replace_all)


def tree_dirs(root: Path) -> list[DirState]:
    """The folder roots and their date directories, each with its mtime."""
    found: list[DirState] = []
    for folder in (*ATTEMPT_FOLDERS, SESSION_FOLDER):
        top = root / folder
        try:
            found.append(DirState(str(top), folder, top.stat().st_mtime_ns))
        except OSError:
            continue
        if folder == SESSION_FOLDER or links_outside(str(top), root):
            continue  # a folder linked out of the tree is listed as skipped (tree.list_candidates)
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                name = entry.name
                if name.startswith(".") or is_candidate(name) or not is_text(name):
                    continue  # a directory whose name is not text is listed as skipped (tree.list_candidates)
                if not entry.is_dir():
                    continue  # a linked date directory is listed like another (tree.list_candidates)
                found.append(DirState(entry.path, folder, entry.stat().st_mtime_ns, entry.is_symlink()))
            except OSError:
                continue
    return found


def _list_dir(state: DirState, root: Path) -> dict[str, tuple[FileStamp, str | None]]:
    """Candidate files of one directory: path -> (stamp, reject reason); regular files unstat-ed.

    New ones are stat-ed by the parser on the opened file, known ones by the caller.
    """
    return {stamp.path: (stamp, reason) for stamp, reason in list_candidates(state.path, root)}


def _trusted_mtime(state: DirState, now_ns: int) -> int | None:
    """The directory's mtime to store, or None when it is too recent to trust (RACY_SECONDS)."""
    return state.mtime_ns if now_ns - state.mtime_ns > RACY_SECONDS * 1e9 else None


def _stat(path: str) -> FileStamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return FileStamp(path, info.st_size, info.st_mtime_ns)


WatchedFile = tuple[str, str, tuple[int, int]]  # (path, folder, stored (size, mtime_ns))


@dataclass
class WatchedFiles:
    """The files ``_check_watched`` stats, kept from one scan to the next while the index is unchanged.

    Querying them from the index file cost about 30 ms a scan at 20,000 sessions and 100 ms at
    100,000 (a dashboard scans for every new browser session). Kept, they stay right: with the
    index unchanged the list can only have shrunk (its sessions age out of RECENT_SESSION_SECONDS),
    and stat-ing a few more files than needed changes nothing.
    """

    state: tuple[str | None, str | None] | None = None  # the index's (generation, version) they were read at
    files: list[WatchedFile] = field(default_factory=list)  # stat-ed at every scan
    dormant: list[WatchedFile] = field(default_factory=list)  # the slice of dormant files stat-ed last
    dormant_checked_at: float = float("-inf")  # time.monotonic() of the last scan that stat-ed a slice

    def dormant_due(self) -> bool:
        """True when the dormant files were last stat-ed DORMANT_CHECK_SECONDS ago or more (or never)."""
        return time.monotonic() - self.dormant_checked_at >= DORMANT_CHECK_SECONDS


INDEX_STATE_SQL = "SELECT max(value) FILTER (key = 'generation'), max(value) FILTER (key = 'version') FROM idx.meta"


class ChangeFinder:
    """Compares the tree with the index attached as ``idx`` on ``connection``.

    ``watched``: the watched files of an earlier scan by the same source, reused while the index
    has not changed (WatchedFiles).
    """

    def __init__(self, root: Path, connection: duckdb.DuckDBPyConnection, watched: WatchedFiles | None = None):
        self.root = root
        self.connection = connection
        self.watched = watched

    def _stored_stamps(self, sql: str, params: list) -> dict[str, tuple[int, int]]:
        return {path: (size, mtime) for path, size, mtime in self.connection.execute(sql, params).fetchall()}

    def first_load(self, workers: int) -> ChangeSet:
        """Every directory of the tree as a task that lists and parses it whole (for an empty index).

        The parent lists nothing but the directories: each folder root is split into ``workers``
        shards (a flat folder may hold every file of the tree), then one task per date directory.
        """
        # Rows may be there already: a load killed after its commit and before it wrote loaded_at
        # leaves an index that looks empty. They are replaced, in the same transaction, never doubled.
        changes = ChangeSet(sessions_listed=True, every_file_checked=True, replace_all=True)
        now_ns = time.time_ns()
        for state in tree_dirs(self.root):
            shards = workers if os.path.dirname(state.path) == str(self.root) else 1
            changes.directories += [
                DirectoryTask(state.path, state.folder, str(self.root), shard, shards) for shard in range(shards)
            ]
            changes.dir_stamps.append((state.path, _trusted_mtime(state, now_ns)))
        changes.directories.sort(key=lambda task: task.shards, reverse=True)  # the biggest first
        self._dormant_checked_now(changes)
        return changes

    def find(self, full: bool) -> ChangeSet:
        """Everything new, changed or removed since the last refresh."""
        changes = ChangeSet(every_file_checked=full)
        known = dict(self.connection.execute("SELECT path, mtime_ns FROM idx.dir_stamps").fetchall())
        dirs = tree_dirs(self.root)
        present = {d.path for d in dirs}
        refused = {row[0] for row in self.connection.execute(REFUSED_DIRS_SQL, [FILES_NOT_READ]).fetchall()}
        # A directory refused last time (could not be listed, a link out) is listed again: its
        # permissions or its link can change without its mtime moving. So is one that is a link out
        # now: swapped in for a directory, its target's mtime may be the one the directory had.
        changed = [
            d
            for d in dirs
            if full
            or known.get(d.path) != d.mtime_ns
            or d.path in refused
            or (d.linked and links_outside(d.path, self.root))
        ]
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
            changes.dir_stamps.append((state.path, _trusted_mtime(state, now_ns)))
        changes.removed += [path for path, _ in stored.items() if os.path.dirname(path) in changes.gone_dirs]
        if full:
            self._dormant_checked_now(changes)
        else:
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
        """Files that writers rewrite in place, in directories whose mtime did not change; the next
        slice of dormant ones only when due, for this process and for every process of this index
        (see the module's docstring)."""
        due = self.watched is None or (self.watched.dormant_due() and self._dormant_due_for_all())
        files = self._watched_files(rechecked_dirs)
        if due:
            dormant, checked_up_to = self._dormant_slice(rechecked_dirs)
            files = files + dormant
            self._dormant_checked_now(changes, checked_up_to)
        self._compare_stamps(files, changes)

    def _dormant_checked_now(self, changes: ChangeSet, checked_up_to: str = "") -> None:
        """Note that this scan stats a slice of the dormant files, up to the path ``checked_up_to`` ("":
        the last slice, or every file): in this process, and in the index as source marks, written with
        the scan's changes (a refresh that fails leaves them as they were)."""
        if self.watched is not None:
            self.watched.dormant_checked_at = time.monotonic()
        changes.marks += [(DORMANT_CHECK_MARK, str(time.time())), (DORMANT_UP_TO_MARK, checked_up_to)]

    def _dormant_due_for_all(self) -> bool:
        """True when no process of this index stat-ed the dormant files in the last DORMANT_CHECK_SECONDS
        (a CLI command is a new process each time: without this, each one stat-ed them all; 147,000
        files and 1.8 s of a warm summary at 1,000,000 sessions)."""
        row = self.connection.execute(MARK_SQL, [DORMANT_CHECK_MARK]).fetchone()
        try:
            checked = float(row[0]) if row else None
        except ValueError:
            checked = None
        now = time.time()
        return checked is None or not (0 <= now - checked < DORMANT_CHECK_SECONDS)  # a clock set back: due

    def _dormant_slice(self, rechecked_dirs: list[str]) -> tuple[list[WatchedFile], str]:
        """The next DORMANT_SLICE_FILES dormant failures outside ``rechecked_dirs`` after the path the
        last check stopped at, and the path to go on from next time ("" once the sweep is through)."""
        row = self.connection.execute(MARK_SQL, [DORMANT_UP_TO_MARK]).fetchone()
        parameters = {
            "dirs": rechecked_dirs,
            "recent": datetime.now() - timedelta(seconds=RECENT_SESSION_SECONDS),
            "after": row[0] if row and row[0] else "",
            "slice": DORMANT_SLICE_FILES,
        }
        rows = self.connection.execute(DORMANT_SLICE_SQL, parameters).fetchall()
        dormant = [(path, "failures", (size, mtime)) for path, size, mtime in rows]
        if self.watched is not None:
            self.watched.dormant = dormant
        return dormant, (rows[-1][0] if len(rows) == DORMANT_SLICE_FILES else "")

    def _watched_files(self, rechecked_dirs: list[str]) -> list[WatchedFile]:
        """The watched files outside ``rechecked_dirs`` stat-ed at every scan (see WatchedFiles)."""
        state = None
        if self.watched is not None and not rechecked_dirs:
            state = tuple(self.connection.execute(INDEX_STATE_SQL).fetchone())
            if state == self.watched.state:
                return self.watched.files
        recent = datetime.now() - timedelta(seconds=RECENT_SESSION_SECONDS)
        parameters = {"dirs": rechecked_dirs, "recent": recent, "non_text_name": NON_TEXT_NAME}
        files = [
            (path, folder, (size, mtime))
            for path, size, mtime, folder in self.connection.execute(WATCHED_FILES_SQL, parameters).fetchall()
        ]
        if self.watched is not None:  # a None state (dirs rechecked) never matches
            self.watched.state, self.watched.files = state, files
        return files

    def _compare_stamps(self, files: list[tuple[str, str, tuple[int, int] | None]], changes: ChangeSet) -> None:
        """Stat each (path, folder, stored stamp); add the new or changed ones to ``changes``, the gone ones too.

        A changed file is rejected on the same grounds as a listed one (``tree.stamp_path``).
        """
        inside: dict[str, bool] = {}  # per directory: a directory can turn into a link out of the tree
        for path, folder, stored in files:
            directory = os.path.dirname(path)
            if directory not in inside:
                inside[directory] = not links_outside(directory, self.root)
            if inside[directory]:
                stamp, reason = stamp_path(path, self.root)  # a file can turn into a link out of the tree
            else:
                stamp, reason = FileStamp(path, 0, 0), "link points outside the log tree"
            if stamp is None:
                if stored is not None:
                    changes.removed.append(path)
            elif (stamp.size, stamp.mtime_ns) != stored:
                changes.stale.append((stamp, folder, reason))
                if stored is not None:
                    changes.replaced.append(path)

    def rewritten_files_of(self, session_ids: list[str], with_session_files: bool) -> ChangeSet:
        """Files of these sessions (whose new attempts were just parsed) that a writer may have rewritten.

        Their failures without ``fixed_by`` and, with ``with_session_files``, their session files;
        returned as a ChangeSet of those that are new, changed or gone.
        """
        changes = ChangeSet()
        if not session_ids:
            return changes
        failures = self.connection.execute(REWRITABLE_FAILURES_SQL, [session_ids]).fetchall()
        files = [(path, "failures", (size, mtime)) for path, size, mtime in failures]
        if with_session_files:
            sessions_dir = self.root / SESSION_FOLDER
            paths = [str(sessions_dir / f"{sid}.json") for sid in session_ids if "/" not in sid and "\\" not in sid]
            stored = self._stored_stamps(
                "SELECT path, size, mtime_ns FROM idx_manifest WHERE list_contains(?, path)", [paths]
            )
            files += [(path, SESSION_FOLDER, stored.get(path)) for path in paths]
        self._compare_stamps(files, changes)
        return changes


# The failures whose fixed_by a writer has not set (yet); the queries below build on it (a constant,
# never input).
_NO_FIXED_BY = "folder = 'failures' AND (fixed_by IS NULL OR trim(fixed_by) = '')"

_RECENT_SESSIONS = "recent_sessions AS (SELECT DISTINCT session_id FROM idx.attempt_files WHERE timestamp > $recent)"
# The failures of recent sessions, their session files and skipped files, outside the directories
# compared in full anyway: stat-ed at every scan.
WATCHED_FILES_SQL = f"""
WITH {_RECENT_SESSIONS}
SELECT path, size, mtime_ns, folder FROM idx.attempt_files
WHERE {_NO_FIXED_BY} AND NOT list_contains($dirs, dir) AND session_id IN (SELECT session_id FROM recent_sessions)
UNION ALL
SELECT path, size, mtime_ns, 'sessions' FROM idx.session_files
WHERE session_id IN (SELECT session_id FROM recent_sessions) AND NOT list_contains($dirs, dir)
UNION ALL
SELECT path, size, mtime_ns, folder FROM idx.skipped_files
WHERE NOT list_contains($dirs, dir) AND NOT starts_with(reason, $non_text_name)
"""  # noqa: S608
# The next slice of dormant failures (the last of sessions that are not recent) in path order.
DORMANT_SLICE_SQL = f"""
WITH {_RECENT_SESSIONS}
SELECT path, size, mtime_ns FROM idx.attempt_files
WHERE {_NO_FIXED_BY} AND NOT list_contains($dirs, dir) AND path > $after
  AND session_id NOT IN (SELECT session_id FROM recent_sessions)
  AND path NOT IN (SELECT path FROM idx.attempt_facts WHERE attempt_no < session_attempts)
ORDER BY path LIMIT $slice
"""  # noqa: S608
# When any process of the index last stat-ed a slice of the dormant files (seconds since the epoch),
# and the path it stopped at: source marks.
DORMANT_CHECK_MARK = "dormant files checked at"
DORMANT_UP_TO_MARK = "dormant files checked up to"
MARK_SQL = "SELECT mark FROM idx.source_marks WHERE scope = ?"

REFUSED_DIRS_SQL = "SELECT dir FROM idx.skipped_files WHERE ends_with(reason, ?) AND ends_with(path, '/')"

REWRITABLE_FAILURES_SQL = (
    f"SELECT path, size, mtime_ns FROM idx.attempt_files WHERE {_NO_FIXED_BY} AND list_contains(?, session_id)"  # noqa: S608
)
