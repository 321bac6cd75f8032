"""The one way Fixtrail opens a DuckDB connection: quiet on standard output, giving memory back."""

from __future__ import annotations

import duckdb

# DuckDB draws a progress bar on standard output for queries over 2 s (a first load of 100,000
# sessions): it would corrupt the CLI's JSON and every pipe. It cannot be set when connecting, only
# on the connection (its cursors follow): quiet_connection() sets it.
#
# Memory DuckDB has freed goes back to the system: jemalloc's background threads purge it, and a
# task that peaked above the threshold flushes the allocator's caches. Without these a dashboard at
# 100,000 sessions kept the few hundred MiB its first load and copy peaked at for good.
ALLOCATOR_SETTINGS = {"allocator_background_threads": True, "allocator_flush_threshold": "16MiB"}


def quiet_connection(config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection that never draws a progress bar on standard output and
    gives freed memory back (ALLOCATOR_SETTINGS)."""
    connection = duckdb.connect(":memory:", config=config or {})
    connection.execute("SET enable_progress_bar = false")
    for name, value in ALLOCATOR_SETTINGS.items():
        connection.execute(f"SET {name} = ?", [value])
    return connection
