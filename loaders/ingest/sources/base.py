"""The seam between ingest and the index: what every source of rows provides (the factory that picks one is
``loaders.ingest.sources``, which imports every kind; a kind imports only this)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loaders.ingest.tree import LogTreeError

if TYPE_CHECKING:
    import duckdb

    from loaders.ingest.parsing import DirectoryTask, ParsedBatch, WorkerPool
    from loaders.ingest.records import FileStamp
    from loaders.ingest.scan import ChangeSet

S3_SCHEME = "s3://"
# A Delta table as a location: ``delta+`` before its URL or path (as ``--table URL`` passes it on).
DELTA_SCHEME = "delta+"


class SourceUnavailable(LogTreeError):
    """The source cannot be reached or listed now (object storage down, a bucket missing); the message says why.

    Nothing is written to the index when it is raised: the next refresh starts from the same place.
    """


class Source(Protocol):
    """Where rows come from. ``root`` names it (shown to people, and it keys its index file).

    ``parallel_first_load``: a first load is parsed by the index's worker processes (local trees).
    The index attaches its file as ``idx`` on ``connection`` before calling ``find_changes``, and
    stores the ChangeSet's ``marks`` in ``idx.source_marks`` in the same transaction as the rows.
    """

    root: Path | str
    parallel_first_load: bool

    def find_changes(
        self, connection: duckdb.DuckDBPyConnection, full: bool, first_load: bool, workers: int
    ) -> ChangeSet:
        """What is new, changed or gone since the marks and rows the index holds."""
        ...

    def parsed_batches(
        self,
        items: list[tuple[FileStamp, str]],
        progress: Callable[[int, int], None] | None,
        pool: WorkerPool | None,
        directories: list[DirectoryTask] | None,
    ) -> Iterator[ParsedBatch]:
        """The rows of the stale items (and directory tasks) of a ChangeSet, batch by batch."""
        ...

    def rewritten_files_of(
        self, connection: duckdb.DuckDBPyConnection, session_ids: list[str], with_session_files: bool
    ) -> ChangeSet:
        """Records of these sessions that a writer may have rewritten in place (none where nothing is rewritten)."""
        ...

    def read_record(self, path: str) -> dict[str, Any] | None:
        """The full record at an indexed path (code, stderr, stdout), or None when it is gone or unreadable."""
        ...
