"""A log tree on a local disk: change detection by directory mtimes (``loaders.ingest.scan``), parsing in workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from loaders.ingest.code_changes import read_tree_record
from loaders.ingest.parsing import DirectoryTask, ParsedBatch, WorkerPool, parse_batches
from loaders.ingest.records import FileStamp
from loaders.ingest.scan import ChangeFinder, ChangeSet, WatchedFiles


class LocalTreeSource:
    """The tree under ``root`` (a resolved directory), read as ``loaders.ingest.scan`` and
    ``loaders.ingest.parsing`` read it."""

    parallel_first_load = True

    def __init__(self, root: Path):
        self.root = root
        self._read = read_tree_record(str(root))
        self._watched = WatchedFiles()

    def find_changes(
        self, connection: duckdb.DuckDBPyConnection, full: bool, first_load: bool, workers: int
    ) -> ChangeSet:
        """On a first load, every directory as a task for the workers; else what the scan finds."""
        finder = ChangeFinder(self.root, connection, self._watched)
        return finder.first_load(workers) if first_load else finder.find(full)

    def parsed_batches(
        self,
        items: list[tuple[FileStamp, str]],
        progress: Callable[[int, int], None] | None,
        pool: WorkerPool | None,
        directories: list[DirectoryTask] | None,
    ) -> Iterator[ParsedBatch]:
        """The files parsed here or in worker processes (``loaders.ingest.parsing.parse_batches``)."""
        return parse_batches(items, progress, pool, directories)

    def rewritten_files_of(
        self, connection: duckdb.DuckDBPyConnection, session_ids: list[str], with_session_files: bool
    ) -> ChangeSet:
        """Failures and session files of these sessions that a writer may have rewritten (``loaders.ingest.scan``)."""
        return ChangeFinder(self.root, connection).rewritten_files_of(session_ids, with_session_files)

    def read_record(self, path: str) -> dict[str, Any] | None:
        """The JSON object of a file inside the tree; None if it left the tree or became unreadable."""
        return self._read(path)
