"""Fix recipes: what changed from each failed attempt to the next attempt of its session, and rules.

A transition is a failed attempt and the attempt that followed it in the same session (linked or
inferred). What changed (imports added and removed, names and constant subscripts replaced)
needs both codes, which the index does not keep: it is worked out once per pair of files, on
first demand, from the files themselves, and stored in the index (``transition_changes``,
dropped when either file changes). Rules aggregate the changes: "cv2 -> skimage: 14 fixes, 93%"
(14 transitions with that change ended in a success, out of 15 that made it).
"""

from __future__ import annotations

import difflib
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from loaders.code_changes import CHANGE_COLUMNS, changes_of_pairs, describe_change
from loaders.error_text import missing_module
from loaders.filters import ALL, AttemptFilter
from loaders.index import LogIndex
from loaders.parsing import ChangesTask, WorkerPool, worker_count
from loaders.rows import plain_rows
from loaders.sources.local import LocalTreeSource
from loaders.stored_results import stored_result

if TYPE_CHECKING:
    import duckdb

MAX_SWAP_NAMES = 4  # a transition that renames more than this rewrote the script: no name rule from it
NAME_SIMILARITY = 0.75  # int -> min (0.67) is a coincidence; rgb_arr -> rgb_array (0.88) a rename

TRANSITIONS_SQL = """
WITH ordered AS (
    SELECT *,
           lead(log_id) OVER w AS next_id,
           lead(status) OVER w AS next_status,
           lead(path) OVER w AS next_path,
           lead(mtime_ns) OVER w AS next_mtime,
           lead(timestamp) OVER w AS next_at
    FROM attempts
    WINDOW w AS (PARTITION BY session_id ORDER BY timestamp, log_id)
)
SELECT log_id AS failure_id, next_id, session_id, fingerprint, category, error_line, ai_model,
       next_status = 'success' AS fixed, timestamp AS failed_at, next_at,
       path AS failure_path, mtime_ns AS failure_mtime, next_path, next_mtime
FROM ordered
WHERE status = 'failed' AND next_id IS NOT NULL AND {where}
ORDER BY failed_at, failure_id
"""

# The transitions with their recorded changes (NULL lists where none is recorded yet): a hash join in
# DuckDB, where a dict per recorded change in Python cost seconds at 100,000 sessions. Only the
# columns rules and the changes' reading use: at 100,000 sessions (128,000 transitions) the ids,
# error lines and models took 60 MiB more while the report was worked out.
CHANGED_TRANSITIONS_SQL = """
WITH moves AS ({transitions}),
recorded AS (
    SELECT DISTINCT ON (failure_path, failure_mtime, next_path, next_mtime) * FROM idx.transition_changes
)
SELECT m.session_id, m.fingerprint, m.fixed, m.failed_at, m.failure_path, m.failure_mtime, m.next_path,
       m.next_mtime, r.removed_imports, r.added_imports, r.removed_tokens, r.added_tokens
FROM moves m LEFT JOIN recorded r
  ON r.failure_path = m.failure_path AND r.failure_mtime = m.failure_mtime
 AND r.next_path = m.next_path AND r.next_mtime = m.next_mtime
ORDER BY m.failed_at, m.failure_id
"""


def transitions(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Each failed attempt with the next attempt of its session (filter applies to the failure).

    Output columns: failure_id, next_id, session_id, fingerprint, category, error_line, ai_model,
    fixed (the next attempt succeeded), failed_at, next_at, failure_path, failure_mtime, next_path,
    next_mtime.
    """
    where, params = flt.where()
    return index.frame(TRANSITIONS_SQL.format(where=where), params)


def transition_changes(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """Each transition (see transitions()) with what changed in it.

    Output columns: session_id, fingerprint, fixed, failed_at, failure_path, failure_mtime,
    next_path, next_mtime, and those of CHANGE_COLUMNS (lists of text); ordered as transitions().

    Changes already recorded in the index are reused; the others are worked out from the two
    files and recorded.
    """
    where, params = flt.where()
    sql = CHANGED_TRANSITIONS_SQL.format(transitions=TRANSITIONS_SQL.format(where=where))
    index.cursor()  # loads the index on first use
    # A cursor of its own: the index file's connection may hold a result another call left unfetched.
    with index.index_file() as file_connection, file_connection.cursor() as connection:
        frame = _frame_with_lists(connection, sql, params)
        unknown = frame["removed_imports"].isna()
        if unknown.any():
            positions, fresh = _work_out_changes(index, frame[unknown])
            _record_changes(connection, fresh)
            for column in CHANGE_COLUMNS:  # filled in place: querying again cost 1.3 s at 100,000 sessions
                values = frame[column].tolist()
                for position, value in zip(positions, fresh.column(column).to_pylist(), strict=True):
                    values[position] = value
                frame[column] = values
    return frame


def _frame_with_lists(connection: duckdb.DuckDBPyConnection, sql: str, params: list) -> pd.DataFrame:
    """The query's rows as a frame whose list columns (CHANGE_COLUMNS) hold Python lists.

    Fetched as Arrow: ``.df()`` turns each list into a NumPy array (each had to become a list
    again), and ``fetchall()`` makes a tuple per row; at 100,000 sessions (128,000 transitions)
    this takes 2.1 s against 3.6 and 4.1.
    """
    table = connection.sql(sql, params=params).to_arrow_table()
    frame = table.drop_columns(list(CHANGE_COLUMNS)).to_pandas()
    for column in CHANGE_COLUMNS:
        frame[column] = table.column(column).to_pylist()
    return frame


PARALLEL_CHANGES = 2000  # from this many transitions on, the parse workers work the changes out


def _work_out_changes(index: LogIndex, missing: pd.DataFrame) -> tuple[list[int], pa.Table]:
    """The changes of transitions not recorded yet (rows of the transitions frame), read from their files.

    Returns the rows' positions in the frame and their changes (_CHANGE_SCHEMA), in the same
    order. Worked out in session order, so the attempt that followed one failure and is the next
    transition's failure is read once, and sessions in the order they started, so that the
    directories read from follow one another (a tree split by day: each directory's descriptor
    is then opened once, see loaders.tree.InsideOpener, where random order reopened a third);
    by the parse workers when there are many in a local tree.
    """
    started = missing.groupby("session_id")["failed_at"].transform("min").rename("session_started")
    rows = missing.join(started).sort_values(["session_started", "session_id", "failed_at", "failure_path"])
    pairs = list(zip(rows["failure_path"].tolist(), rows["next_path"].tolist(), strict=True))
    workers = worker_count()
    if isinstance(index.source, LocalTreeSource) and workers > 1 and len(pairs) >= PARALLEL_CHANGES:
        size = len(pairs) // (workers * 4) + 1
        tasks = [ChangesTask(n, str(index.root), pairs[i : i + size]) for n, i in enumerate(range(0, len(pairs), size))]
        with WorkerPool(workers) as pool:
            changes = [change for answer in pool.changes(tasks) for change in answer]
    else:
        changes = changes_of_pairs(pairs, index.source.read_record)
    columns: dict[str, list[Any]] = {key: rows[key].tolist() for key in TRANSITION_KEY}
    columns.update({column: [change[column] for change in changes] for column in CHANGE_COLUMNS})
    return rows.index.tolist(), pa.Table.from_pydict(columns, schema=_CHANGE_SCHEMA)


TRANSITION_KEY = ("failure_path", "failure_mtime", "next_path", "next_mtime")
_CHANGE_SCHEMA = pa.schema(
    [
        ("failure_path", pa.string()),
        ("failure_mtime", pa.int64()),
        ("next_path", pa.string()),
        ("next_mtime", pa.int64()),
        ("removed_imports", pa.list_(pa.string())),
        ("added_imports", pa.list_(pa.string())),
        ("removed_tokens", pa.list_(pa.string())),
        ("added_tokens", pa.list_(pa.string())),
    ]
)


RECORD_CHANGES_SQL = """
INSERT INTO idx.transition_changes
SELECT failure_path, failure_mtime, next_path, next_mtime, removed_imports, added_imports, removed_tokens,
       added_tokens
FROM fresh_changes
"""


def _record_changes(connection: duckdb.DuckDBPyConnection, changes: pa.Table) -> None:
    """Insert worked-out changes as one Arrow table (``executemany`` costs about 1 ms a row)."""
    connection.register("fresh_changes", changes)
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(RECORD_CHANGES_SQL)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("fresh_changes")


@dataclass(frozen=True)
class Change:
    """One kind of edit: ``import`` (old module -> new), ``drop_import``, ``name`` or ``subscript``."""

    kind: str
    old: str
    new: str | None

    def describe(self) -> str:
        """The change in words, as rules and the AI context show it."""
        if self.kind == "import":
            return f"{self.old} -> {self.new}"
        if self.kind == "drop_import":
            return f"drop import {self.old}"
        return f"{self.old} -> {self.new}"


def _paired_names(removed: list[str], added: list[str]) -> list[tuple[str, str]]:
    """Removed and added names that look like one renamed into the other (most similar first)."""
    if not removed or not added or len(removed) > MAX_SWAP_NAMES or len(added) > MAX_SWAP_NAMES:
        return []
    pairs, used = [], set()
    scored = sorted(((_name_similarity(old, new), old, new) for old in removed for new in added), reverse=True)
    for ratio, old, new in scored:
        if ratio < NAME_SIMILARITY or old in used or new in used:
            continue
        pairs.append((old, new))
        used.update((old, new))
    return pairs


@functools.lru_cache(maxsize=65_536)
def _name_similarity(old: str, new: str) -> float:
    """difflib's ratio of two names (the same pairs come back in transition after transition)."""
    return difflib.SequenceMatcher(None, old, new).ratio()


def changes_of(row: Any) -> list[Change]:
    """The recognisable edits of one transition (a row of transition_changes())."""
    found = [Change("import", old, new) for old in row.removed_imports for new in row.added_imports]
    if not row.added_imports:
        found += [Change("drop_import", old, None) for old in row.removed_imports]
    module_words = set(row.removed_imports) | set(row.added_imports)
    removed_names = [t for t in row.removed_tokens if not t.startswith("[") and t not in module_words]
    added_names = [t for t in row.added_tokens if not t.startswith("[") and t not in module_words]
    found += [Change("name", old, new) for old, new in _paired_names(removed_names, added_names)]
    removed_subs = [t for t in row.removed_tokens if t.startswith("[")]
    added_subs = [t for t in row.added_tokens if t.startswith("[")]
    if len(removed_subs) == 1 and len(added_subs) == 1:
        found.append(Change("subscript", removed_subs[0], added_subs[0]))
    return found


@dataclass
class _Tally:
    fixes: Counter = None  # type: ignore[assignment]
    tries: Counter = None  # type: ignore[assignment]
    by_fingerprint: defaultdict = None  # type: ignore[assignment]
    sessions: defaultdict = None  # type: ignore[assignment]


def _tally(changed: pd.DataFrame) -> _Tally:
    tally = _Tally(Counter(), Counter(), defaultdict(Counter), defaultdict(list))
    columns = [
        "removed_imports",
        "added_imports",
        "removed_tokens",
        "added_tokens",
        "fixed",
        "fingerprint",
        "session_id",
    ]
    for row in plain_rows(changed, columns):
        for change in set(changes_of(row)):
            tally.tries[change] += 1
            if row.fixed:
                tally.fixes[change] += 1
                if isinstance(row.fingerprint, str):
                    tally.by_fingerprint[change][row.fingerprint] += 1
                if len(tally.sessions[change]) < 3:
                    tally.sessions[change].append(row.session_id)
    return tally


KIND_PRIORITY = {"import": 0, "drop_import": 1, "name": 2, "subscript": 3}
RULE_COLUMNS = [
    "kind",
    "old",
    "new",
    "change",
    "fixes",
    "tries",
    "success_rate",
    "fingerprints",
    "fingerprint_fixes",
    "example_sessions",
    "text",
]


def recognised_edits(before: str, after: str) -> list[str]:
    """The recognisable edits between two versions of a script, in words ("cv2 -> skimage")."""
    return [edit.describe() for edit in changes_of(SimpleNamespace(**describe_change(before, after)))]


def fix_rules(index: LogIndex, flt: AttemptFilter = ALL, min_fixes: int = 2) -> pd.DataFrame:
    """Edits that fixed failures, with their support and success rate, most fixes first.

    Output columns: kind, old, new, change (in words), fixes (transitions with the edit that ended
    in a success), tries (all transitions with the edit), success_rate (percent), fingerprints
    (the errors it fixed, most often first), fingerprint_fixes ({fingerprint: fixes}),
    example_sessions, text ("cv2 -> skimage: 14 fixes, 93%"). Worked out once per index version
    (loaders.stored_results).
    """
    records = stored_result(index, "recipes.fix_rules", (flt, min_fixes), lambda: _rule_records(index, flt, min_fixes))
    return pd.DataFrame(records, columns=RULE_COLUMNS)


def _rule_records(index: LogIndex, flt: AttemptFilter, min_fixes: int) -> list[dict[str, Any]]:
    tally = _tally(transition_changes(index, flt))
    rules = []
    for change, count in tally.fixes.items():
        if count < min_fixes:
            continue
        rate = count * 100.0 / tally.tries[change]
        per_fingerprint = tally.by_fingerprint[change]
        rules.append(
            {
                "kind": change.kind,
                "old": change.old,
                "new": change.new,
                "change": change.describe(),
                "fixes": count,
                "tries": tally.tries[change],
                "success_rate": rate,
                "fingerprints": [fp for fp, _ in per_fingerprint.most_common()],
                "fingerprint_fixes": dict(per_fingerprint),
                "example_sessions": tally.sessions[change],
                "text": f"{change.describe()}: {count} fixes, {rate:.0f}%",
            }
        )
    # Most fixes first; on a tie, a library swap before the renames it brings along.
    rules.sort(key=lambda rule: (-rule["fixes"], KIND_PRIORITY[rule["kind"]], -rule["success_rate"], rule["change"]))
    return rules


def best_rule_by_fingerprint(rules: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """For each fingerprint, the rule that fixed it most often (ties: the rule with more fixes overall)."""
    best: dict[str, dict[str, Any]] = {}
    for rule in rules.to_dict("records"):
        for fingerprint, count in rule["fingerprint_fixes"].items():
            current = best.get(fingerprint)
            if current is None or count > current["fingerprint_fixes"][fingerprint]:
                best[fingerprint] = rule
    return best


def instead(rule: dict[str, Any], error: str) -> str:
    """What to do instead, in the words the model is told, from a rule of fix_rules (``error``: the key line)."""
    fixes = f"{rule['fixes']} fixes, {rule['success_rate']:.0f}% of tries worked"
    if rule["kind"] == "import":
        reason = ": it is not installed" if missing_module(error) == rule["old"] else ""
        return f"Don't import {rule['old']}{reason}; use {rule['new']} instead ({fixes})."
    if rule["kind"] == "drop_import":
        reason = ": it is not installed" if missing_module(error) == rule["old"] else ""
        return f"Don't import {rule['old']}{reason} ({fixes} removed it)."
    if rule["kind"] == "subscript":
        return f"Write {rule['new']} instead of {rule['old']} ({fixes})."
    return f"Use {rule['new']} instead of {rule['old']} ({fixes})."
