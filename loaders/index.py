"""The persistent DuckDB index of a log tree, and the one connection every query runs on.

One DuckDB file per log tree lives in the cache directory (``$FIXTRAIL_CACHE_DIR`` or the user's
cache directory, never inside the tree). It holds the slim columns of every attempt file, the
session files and the skipped files, each with the size and mtime it was read at. ``refresh()``
lists the tree, parses only files that are new or whose size or mtime changed, drops rows of files
that are gone, and commits all of it in one transaction under an inter-process lock, so that a
dashboard and a CLI can load at once and a killed update leaves the previous state.

Queries do not touch that file: after each refresh that changed something the process copies the
index into its own in-memory DuckDB database, enriched with what depends on other rows (whether a
failure is fixed, its position in its session). The file is closed between refreshes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import platformdirs
import pyarrow as pa
from filelock import FileLock

from loaders.parsing import parse_stamps
from loaders.records import ATTEMPT_COLUMNS, SESSION_COLUMNS, FileStamp, utc_now_iso
from loaders.tree import SESSION_FOLDER, check_logs_dir, list_tree

# Bump whenever a stored column or its derivation changes: older indexes are then rebuilt.
SCHEMA_VERSION = "6"
CACHE_DIR_ENV = "FIXTRAIL_CACHE_DIR"

Progress = Callable[[int, int], None]

SKIPPED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR"),
    ("folder", "VARCHAR"),
    ("size", "BIGINT"),
    ("mtime_ns", "BIGINT"),
    ("reason", "VARCHAR"),
)


def _table_sql(name: str, columns: tuple[tuple[str, str], ...], extra: str = "") -> str:
    body = ", ".join(f'"{col}" {kind}' for col, kind in columns)
    return f"CREATE TABLE IF NOT EXISTS idx.{name} ({body}{extra})"


CREATE_TABLES_SQL = (
    "CREATE TABLE IF NOT EXISTS idx.meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    _table_sql("attempt_files", ATTEMPT_COLUMNS),
    _table_sql("session_files", SESSION_COLUMNS),
    _table_sql("skipped_files", SKIPPED_COLUMNS),
)

MANIFEST_SQL = """
SELECT path, size, mtime_ns FROM idx.attempt_files
UNION ALL SELECT path, size, mtime_ns FROM idx.session_files
UNION ALL SELECT path, size, mtime_ns FROM idx.skipped_files
"""

# Every attempt once (a log_id in two files: the newest file wins, the count of copies is kept),
# with what depends on other rows: fixed (fixed_by set, or a later success in the same session),
# the success that fixed it, its number within its session and the session's size.
ENRICHED_ATTEMPTS_SQL = """
CREATE OR REPLACE TABLE attempts AS
WITH ranked AS (
    SELECT *, count(*) OVER (PARTITION BY log_id) AS copies,
           row_number() OVER (PARTITION BY log_id ORDER BY mtime_ns DESC, path) AS copy_rank
    FROM idx.attempt_files
),
unique_attempts AS (SELECT * EXCLUDE (copy_rank) FROM ranked WHERE copy_rank = 1),
later_success AS (
    SELECT f.log_id, min(s.timestamp) AS fixed_at, arg_min(s.log_id, s.timestamp) AS fixing_success
    FROM unique_attempts f
    JOIN unique_attempts s
      ON s.session_id = f.session_id AND s.status = 'success' AND s.timestamp > f.timestamp
    WHERE f.status = 'failed'
    GROUP BY f.log_id
)
SELECT u.*,
       CASE WHEN u.status = 'failed'
            THEN nullif(trim(u.fixed_by), '') IS NOT NULL OR l.fixed_at IS NOT NULL END AS is_fixed,
       CASE WHEN u.status = 'failed'
            THEN coalesce(nullif(trim(u.fixed_by), ''), l.fixing_success) END AS fixed_by_effective,
       l.fixed_at,
       row_number() OVER (PARTITION BY u.session_id ORDER BY u.timestamp, u.log_id) AS attempt_no,
       count(*) OVER (PARTITION BY u.session_id) AS session_attempts,
       CAST(u.timestamp AS DATE) AS day
FROM unique_attempts u
LEFT JOIN later_success l USING (log_id)
"""

COPY_SESSION_FILES_SQL = "CREATE OR REPLACE TABLE session_files AS SELECT * FROM idx.session_files"
COPY_SKIPPED_SQL = "CREATE OR REPLACE TABLE skipped_files AS SELECT * FROM idx.skipped_files"


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: files seen, parsed, removed, skipped now, and seconds taken."""

    files_seen: int
    parsed: int
    removed: int
    skipped: int
    changed: bool
    version: int
    seconds: float
    rebuilt_because: str | None = None


def default_cache_dir() -> Path:
    """Return ``$FIXTRAIL_CACHE_DIR`` if set, else the user's cache directory for Fixtrail."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("fixtrail"))


def index_path_for(root: Path, cache_dir: Path) -> Path:
    """Return the index file for a resolved log tree: one per tree, named after its path's hash."""
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in root.name)[:40] or "logs"
    return cache_dir / f"{safe_name}-{digest}.duckdb"


def _arrow_type(kind: str) -> pa.DataType:
    return {
        "VARCHAR": pa.string(),
        "TIMESTAMP": pa.timestamp("us"),
        "BIGINT": pa.int64(),
        "INTEGER": pa.int32(),
        "DOUBLE": pa.float64(),
        "VARCHAR[]": pa.list_(pa.string()),
    }[kind]


def _arrow_table(rows: list[dict], columns: tuple[tuple[str, str], ...]) -> pa.Table:
    schema = pa.schema([(name, _arrow_type(kind)) for name, kind in columns])
    return pa.Table.from_pydict({name: [row[name] for row in rows] for name, _ in columns}, schema=schema)


class LogIndex:
    """The index of one log tree and this process's query connection over it.

    Parameters: ``logs_dir`` (the tree; must exist), ``cache_dir`` (default: default_cache_dir()).
    Use ``refresh()`` to bring it up to date, ``cursor()`` to query the tables ``attempts``,
    ``session_files`` and ``skipped_files``. Safe to share between threads.
    """

    def __init__(self, logs_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None):
        self.root = check_logs_dir(logs_dir)
        self.cache_dir = Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir().resolve()
        if self.cache_dir.is_relative_to(self.root):
            raise ValueError(f"the index must not live inside the log tree: {self.cache_dir}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_path_for(self.root, self.cache_dir)
        self._file_lock = FileLock(str(self.path) + ".lock")
        self._thread_lock = threading.RLock()
        self._connection = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
        self.version = -1
        self._generation: str | None = None
        self.loaded_at: str | None = None
        self.last_report: RefreshReport | None = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Return a cursor on this process's in-memory copy; refresh() first if never loaded."""
        if self.version < 0:
            self.refresh()
        return self._connection.cursor()

    @property
    def state_token(self) -> str:
        """Changes whenever the loaded contents change (for caching results per index state)."""
        return f"{self._generation}:{self.version}"

    def frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run one query on this process's copy and return the result as a pandas frame."""
        return self.cursor().execute(sql, params or []).df()

    def refresh(self, progress: Progress | None = None) -> RefreshReport:
        """Bring the index up to date with the tree; return what it did.

        Parameters: ``progress(done, total)``, called while new or changed files are parsed.
        """
        started = time.perf_counter()
        with self._thread_lock, self._file_lock:
            rebuilt_because = self._attach()
            try:
                listing = list_tree(self.root)
                manifest = {
                    path: (size, mtime) for path, size, mtime in self._connection.execute(MANIFEST_SQL).fetchall()
                }
                current: dict[str, tuple[FileStamp, str, str | None]] = {}
                for folder, stamps in listing.files.items():
                    for stamp in stamps:
                        current[stamp.path] = (stamp, folder, None)
                for stamp, folder, reason in listing.rejected:
                    current[stamp.path] = (stamp, folder, reason)
                stale = [
                    entry for path, entry in current.items() if manifest.get(path) != (entry[0].size, entry[0].mtime_ns)
                ]
                removed = [path for path in manifest if path not in current]
                parsed, skipped_now = self._apply(stale, removed, progress)
                generation = self._meta("generation")
                stored_version = int(self._meta("version") or 0)
                changed = bool(stale or removed)
                if changed:
                    stored_version += 1
                    self._set_meta("version", str(stored_version))
                    self._set_meta("loaded_at", utc_now_iso())
                    self._connection.execute("CHECKPOINT idx")
                if (generation, stored_version) != (self._generation, self.version):
                    self._copy_to_memory()
                    self.version = stored_version
                    self._generation = generation
                self.loaded_at = self._meta("loaded_at")
            finally:
                self._connection.execute("DETACH idx")
        report = RefreshReport(
            files_seen=len(current),
            parsed=parsed,
            removed=len(removed),
            skipped=skipped_now,
            changed=changed,
            version=self.version,
            seconds=time.perf_counter() - started,
            rebuilt_because=rebuilt_because,
        )
        self.last_report = report
        return report

    def _attach(self) -> str | None:
        """Attach the index file as ``idx``; rebuild it when corrupt or of another version."""
        reason = None
        try:
            self._connection.execute("ATTACH ? AS idx", [str(self.path)])
        except duckdb.Error as exc:
            reason = f"unreadable index ({str(exc).splitlines()[0][:100]})"
            self._delete_index_files()
            self._connection.execute("ATTACH ? AS idx", [str(self.path)])
        for statement in CREATE_TABLES_SQL:
            self._connection.execute(statement)
        stored = self._meta("schema_version")
        stored_root = self._meta("logs_dir")
        if stored is not None and (stored != SCHEMA_VERSION or stored_root != str(self.root)):
            reason = f"index of another version ({stored})"
            self._connection.execute("DETACH idx")
            self._delete_index_files()
            self._connection.execute("ATTACH ? AS idx", [str(self.path)])
            for statement in CREATE_TABLES_SQL:
                self._connection.execute(statement)
            stored = None
        if stored is None:
            self._set_meta("generation", uuid.uuid4().hex)
            self._set_meta("schema_version", SCHEMA_VERSION)
            self._set_meta("logs_dir", str(self.root))
        return reason

    def _delete_index_files(self) -> None:
        for suffix in ("", ".wal"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def _meta(self, key: str) -> str | None:
        row = self._connection.execute("SELECT value FROM idx.meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._connection.execute("INSERT OR REPLACE INTO idx.meta VALUES (?, ?)", [key, value])

    def _apply(
        self,
        stale: list[tuple[FileStamp, str, str | None]],
        removed: list[str],
        progress: Progress | None,
    ) -> tuple[int, int]:
        """Parse stale files and replace their rows, drop removed ones; one transaction."""
        to_parse = [(stamp, folder) for stamp, folder, reason in stale if reason is None]
        results = parse_stamps(to_parse, progress) if to_parse else []
        attempts, sessions = [], []
        skipped = [
            {"path": s.path, "folder": f, "size": s.size, "mtime_ns": s.mtime_ns, "reason": reason}
            for s, f, reason in stale
            if reason is not None
        ]
        for result, (stamp, folder) in zip(results, to_parse, strict=False):
            if result.row is None:
                skipped.append(
                    {
                        "path": stamp.path,
                        "folder": folder,
                        "size": stamp.size,
                        "mtime_ns": stamp.mtime_ns,
                        "reason": result.reason,
                    }
                )
            elif folder == SESSION_FOLDER:
                sessions.append(result.row)
            else:
                attempts.append(result.row)
        gone = pa.table({"path": pa.array([s.path for s, _, _ in stale] + removed, pa.string())})
        con = self._connection
        con.execute("BEGIN TRANSACTION")
        try:
            if gone.num_rows:
                con.register("gone_paths", gone)
                for table in ("attempt_files", "session_files", "skipped_files"):
                    # table names are this module's constants, never input
                    con.execute(f"DELETE FROM idx.{table} WHERE path IN (SELECT path FROM gone_paths)")  # noqa: S608
                con.unregister("gone_paths")
            self._insert("attempt_files", attempts, ATTEMPT_COLUMNS)
            self._insert("session_files", sessions, SESSION_COLUMNS)
            self._insert("skipped_files", skipped, SKIPPED_COLUMNS)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return len(to_parse), len(skipped)

    def _insert(self, table: str, rows: list[dict], columns: tuple[tuple[str, str], ...]) -> None:
        if not rows:
            return
        self._connection.register("incoming_rows", _arrow_table(rows, columns))
        self._connection.execute(f"INSERT INTO idx.{table} BY NAME SELECT * FROM incoming_rows")  # noqa: S608
        self._connection.unregister("incoming_rows")

    def _copy_to_memory(self) -> None:
        for statement in (ENRICHED_ATTEMPTS_SQL, COPY_SESSION_FILES_SQL, COPY_SKIPPED_SQL):
            self._connection.execute(statement)


def open_index(
    logs_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> LogIndex:
    """Open the index of a log tree and bring it up to date (the usual way to start)."""
    index = LogIndex(logs_dir, cache_dir)
    index.refresh(progress)
    return index
