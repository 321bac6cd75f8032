"""The index file's tables and the views queries read (the SQL every piece of the index shares)."""

from __future__ import annotations

from loaders.ingest.records import ATTEMPT_COLUMNS, SESSION_COLUMNS, SKIPPED_COLUMNS

# Bump whenever a stored column or its derivation changes: older indexes are then rebuilt.
SCHEMA_VERSION = "25"


def _table_sql(name: str, columns: tuple[tuple[str, str], ...], extra: str = "") -> str:
    body = ", ".join(f'"{col}" {kind}' for col, kind in columns)
    return f"CREATE TABLE IF NOT EXISTS idx.{name} ({body}{extra})"


CREATE_TABLES_SQL = (
    "CREATE TABLE IF NOT EXISTS idx.meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    _table_sql("attempt_files", ATTEMPT_COLUMNS),
    _table_sql("session_files", SESSION_COLUMNS),
    _table_sql("skipped_files", SKIPPED_COLUMNS),
    "CREATE TABLE IF NOT EXISTS idx.dir_stamps (path VARCHAR PRIMARY KEY, mtime_ns BIGINT)",
    # Where a source lists from next time (an object-storage prefix's last key, a table's version).
    "CREATE TABLE IF NOT EXISTS idx.source_marks (scope VARCHAR PRIMARY KEY, mark VARCHAR)",
    # What changed from a failed attempt to the next attempt of its session (loaders.analysis.transitions fills it).
    """CREATE TABLE IF NOT EXISTS idx.transition_changes (
        failure_path VARCHAR, failure_mtime BIGINT, next_path VARCHAR, next_mtime BIGINT,
        removed_imports VARCHAR[], added_imports VARCHAR[], removed_tokens VARCHAR[], added_tokens VARCHAR[])""",
    # Results computed once per index state (loaders.store.stored_results): the report's costly sections.
    # ``used_at`` (ns): the least recently used go first past STORED_ENTRIES or STORED_MAX_BYTES.
    """CREATE TABLE IF NOT EXISTS idx.stored_results (
        name VARCHAR, args VARCHAR, state VARCHAR, payload VARCHAR, used_at BIGINT, PRIMARY KEY (name, args))""",
)

# Changes recorded for attempts whose file is gone or changed no longer describe anything: after a
# small change, those of its replaced or removed paths (``?``); after a large one, all such.
PRUNE_CHANGED_TRANSITIONS_SQL = (
    "DELETE FROM idx.transition_changes WHERE list_contains(?, failure_path) OR list_contains(?, next_path)"
)
PRUNE_TRANSITIONS_SQL = """
DELETE FROM idx.transition_changes t
WHERE NOT EXISTS (SELECT 1 FROM idx.attempt_files a WHERE a.path = t.failure_path AND a.mtime_ns = t.failure_mtime)
   OR NOT EXISTS (SELECT 1 FROM idx.attempt_files a WHERE a.path = t.next_path AND a.mtime_ns = t.next_mtime)
"""

MANIFEST_VIEW_SQL = """
CREATE OR REPLACE TEMP VIEW idx_manifest AS
SELECT path, dir, size, mtime_ns FROM idx.attempt_files
UNION ALL SELECT path, dir, size, mtime_ns FROM idx.session_files
UNION ALL SELECT path, dir, size, mtime_ns FROM idx.skipped_files
"""

FILE_COUNT_SQL = (
    "SELECT (SELECT count(*) FROM idx.attempt_files) + (SELECT count(*) FROM idx.session_files)"
    " + (SELECT count(*) FROM idx.skipped_files)"
)
DATA_TABLES = ("attempt_files", "session_files", "skipped_files")
TABLE_COLUMNS = {"attempt_files": ATTEMPT_COLUMNS, "session_files": SESSION_COLUMNS, "skipped_files": SKIPPED_COLUMNS}

# What queries read: ``attempts`` (every attempt that counts, with its facts), ``session_files`` and
# ``skipped_files``, as this process's in-memory tables or as views over the index file.
SESSION_MODES = ("auto", "linked", "inferred")
EXPOSED_VIEWS = ("attempts", "session_files", "skipped_files")
# Row groups of 8,192 rows instead of DuckDB's 122,880: a load of thousands of files then writes its
# rows straight into the file's blocks instead of the write-ahead log (no second write at commit:
# a first load of 45,000 attempts commits in 6 ms instead of 130 ms), and scans split into more
# row groups run on more threads. Measured in `make bench`.
ATTACH_SQL = "ATTACH ? AS idx (ROW_GROUP_SIZE 8192)"
