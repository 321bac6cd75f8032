"""Results worth keeping: computed once per index version, kept in this process and in the index file.

The full report's sections that do not depend on the clock (fix rules, error patterns,
recommendations, the AI context) cost seconds at 20,000 sessions. They change only when the
index's contents do, so they are kept under the index's state token (``LogIndex.state_token``):
in memory for the next request of a long-running process (the API, the dashboard), and in the
index file for the next process (each CLI command is one). A result is stored as JSON and always
handed out as its decoded JSON, so the first run and every later run give the same types.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb
import orjson

from loaders.store.cache import IndexBusyError
from loaders.store.index import LogIndex

READ_SQL = "SELECT payload FROM idx.stored_results WHERE name = ? AND args = ? AND state = ?"
USED_SQL = "UPDATE idx.stored_results SET used_at = ? WHERE name = ? AND args = ?"
FORGET_SQL = "DELETE FROM idx.stored_results WHERE (name = ? AND args = ?) OR state <> ?"
WRITE_SQL = "INSERT INTO idx.stored_results VALUES (?, ?, ?, ?, ?)"
# The file keeps the results of at most STORED_ENTRIES (name, arguments) pairs and STORED_MAX_BYTES of
# them, the least recently used going first: every distinct filter an API client sends is one pair.
STORED_ENTRIES = 64
STORED_MAX_BYTES = 8 << 20
PRUNE_SQL = """
DELETE FROM idx.stored_results WHERE (name, args) IN (
    SELECT name, args FROM (
        SELECT name, args,
               row_number() OVER newest AS position,
               sum(strlen(payload)) OVER (newest ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bytes
        FROM idx.stored_results
        WINDOW newest AS (ORDER BY used_at DESC, name, args)
    ) WHERE position > ? OR (position > 1 AND bytes > ?)
)
"""
Result = TypeVar("Result")
MEMO_ENTRIES = 128  # per index: the results of this many (name, arguments) pairs kept in memory, latest used
# Bump when a stored computation changes what it returns: results stored by another release are then ignored.
RESULTS_RELEASE = "4"

_memos: weakref.WeakKeyDictionary[LogIndex, OrderedDict[tuple[str, str], tuple[str, Any]]] = weakref.WeakKeyDictionary()
_memos_lock = threading.Lock()
_key_locks: dict[tuple[int, str, str], threading.Lock] = {}
MAX_KEY_LOCKS = 1024


def stored_result(index: LogIndex, name: str, args: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``'s JSON-safe result for the index's current contents, computed at most once per version.

    ``name`` names the computation and ``args`` (whose repr is stable: filters, numbers) its
    arguments. Looked up in memory, then in the index file; computed and stored on a miss. When
    the index file is busy or unreadable the result is computed and kept in memory only.
    A few milliseconds when this process holds it (decoding its JSON).
    """
    key = (f"{name}@{RESULTS_RELEASE}", repr(args))
    state = _state(index)
    known = _recall(index, key, state)
    if known is None:
        with _computing(index, key):  # requests asking at once wait for one computation
            known = _recall(index, key, state)
            if known is None:
                payload = _read(index, key, state)
                if payload is None:
                    payload = orjson.dumps(compute(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
                    _write(index, key, state, payload)
                _remember(index, key, state, payload)
                known = (payload,)
    return orjson.loads(known[0])  # decoded on each call: a caller may change what it is given


def remembered(index: LogIndex, name: str, args: tuple, compute: Callable[[], Result]) -> Result:
    """``compute()``'s result kept in this process's memory until the index's contents change.

    For results cheap enough to compute in each process but asked for often (the API's summary):
    not stored in the index file, and returned as computed (the same object each time: do not
    change it).
    """
    key = (name, repr(args))
    state = _state(index)
    known = _recall(index, key, state)
    if known is None:
        with _computing(index, key):
            known = _recall(index, key, state)
            if known is None:
                known = (compute(),)
                _remember(index, key, state, known[0])
    return known[0]


def recalled(index: LogIndex, name: str, args: tuple) -> Any | None:
    """What ``remembered`` holds for the index's current contents, or None: never computes or waits."""
    if index.version < 0:
        return None
    known = _recall(index, (name, repr(args)), index.state_token)
    return None if known is None else known[0]


def _computing(index: LogIndex, key: tuple[str, str]) -> threading.Lock:
    """The lock held while one thread computes this result (forgotten in bulk: at worst computed twice)."""
    with _memos_lock:
        if len(_key_locks) >= MAX_KEY_LOCKS:
            _key_locks.clear()
        return _key_locks.setdefault((id(index), *key), threading.Lock())


def _state(index: LogIndex) -> str:
    if index.version < 0:
        index.cursor()  # loads the index on first use
    return index.state_token


def _recall(index: LogIndex, key: tuple[str, str], state: str) -> tuple[Any] | None:
    """(value,) when this process holds the result for this state, else None."""
    with _memos_lock:
        memo = _memos.get(index)
        known = memo.get(key) if memo is not None else None
        if known is None or known[0] != state:
            return None
        memo.move_to_end(key)
        return (known[1],)


def _remember(index: LogIndex, key: tuple[str, str], state: str, value: Any) -> None:
    with _memos_lock:
        memo = _memos.setdefault(index, OrderedDict())
        memo[key] = (state, value)
        memo.move_to_end(key)
        while len(memo) > MEMO_ENTRIES:
            memo.popitem(last=False)


def _read(index: LogIndex, key: tuple[str, str], state: str) -> bytes | None:
    try:
        with index.index_file() as connection:
            row = connection.execute(READ_SQL, [*key, state]).fetchone()
            if row:
                connection.execute(USED_SQL, [time.time_ns(), *key])
    except (IndexBusyError, duckdb.Error, OSError):
        return None
    return row[0].encode("utf-8") if row else None


def _write(index: LogIndex, key: tuple[str, str], state: str, payload: bytes) -> None:
    try:
        with index.index_file() as connection:
            if index.state_token != state:  # the index moved on while this was computed: keep it in memory only
                return
            connection.execute("BEGIN TRANSACTION")
            try:
                connection.execute(FORGET_SQL, [*key, state])
                connection.execute(WRITE_SQL, [*key, state, payload.decode("utf-8"), time.time_ns()])
                connection.execute(PRUNE_SQL, [STORED_ENTRIES, STORED_MAX_BYTES])
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
    except (IndexBusyError, duckdb.Error, OSError):
        return
