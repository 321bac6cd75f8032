"""The seam between ingest and the index: what every source of rows provides, and how one is chosen."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loaders.tree import LogTreeError, check_logs_dir

if TYPE_CHECKING:
    import duckdb

    from loaders.parsing import DirectoryTask, ParsedBatch, WorkerPool
    from loaders.records import FileStamp
    from loaders.scan import ChangeSet

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


def is_remote(location: str | os.PathLike[str]) -> bool:
    """True for a location that is not a local directory: ``s3://...`` or ``delta+...``."""
    return os.fspath(location).startswith((S3_SCHEME, DELTA_SCHEME))


def table_location(table: str) -> str:
    """The location text of a Delta table at ``table`` (a local path or an ``s3://`` URL)."""
    return table if table.startswith(DELTA_SCHEME) else f"{DELTA_SCHEME}{table}"


def source_location(location: str | os.PathLike[str]) -> str:
    """The canonical text of a location: ``s3://bucket/prefix`` checked, a directory resolved, a table as given.

    Raises LogTreeError (a directory missing) or ValueError (a malformed ``s3://`` URL).
    """
    text = os.fspath(location)
    if text.startswith(DELTA_SCHEME):
        return text
    if text.startswith(S3_SCHEME):
        from loaders.sources.s3 import split_s3_url

        bucket, prefix = split_s3_url(text)
        return f"{S3_SCHEME}{bucket}/{prefix}".rstrip("/")
    return str(check_logs_dir(text))


def open_source(location: str | os.PathLike[str] | Source, table: str | None = None) -> Source:
    """The source for a location: a Delta ``table`` (or ``delta+URL``), an ``s3://`` prefix, else a local tree.

    boto3 and deltalake are imported only when such a source is opened.
    """
    if not isinstance(location, (str, os.PathLike)):
        return location
    text = table_location(table) if table else os.fspath(location)
    if text.startswith(DELTA_SCHEME):
        from loaders.sources.delta import DeltaTableSource

        return DeltaTableSource(text.removeprefix(DELTA_SCHEME))
    if text.startswith(S3_SCHEME):
        from loaders.sources.s3 import S3PrefixSource

        return S3PrefixSource(text)
    from loaders.sources.local import LocalTreeSource

    return LocalTreeSource(check_logs_dir(text))
