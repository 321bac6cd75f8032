"""A Delta Lake table of slim attempt rows: the compactor that appends to it, and the source that reads it.

``compact`` lists what is new under an ``s3://`` prefix (as ``loaders.ingest.sources.s3`` does), parses it
with ``loaders.ingest.records`` and merges the rows into the table (``deltalake``, delta-rs; a local path
or an ``s3://`` URL), partitioned by ``day``, each row's ``path`` the ``s3://`` URL of the full
record. Where it got to (the last key per date prefix) is stored in the commit itself, as the
commit's metadata ``fixtrail.marks`` beside ``fixtrail.source`` (the prefix): a rerun starts from
the last commit of its prefix, a crashed run committed nothing, and several compactors can own
different prefixes of one table. Rows are merged on (day, path), never blindly appended, so two
compactors of one prefix at once add nothing twice either: the later commit conflicts, is retried,
and finds the rows there.

``DeltaTableSource`` makes the table the source of an index: a refresh reads only the data files
added since the table version it last read (kept in ``idx.source_marks``), and everything again
when files were removed (an OPTIMIZE or a rewrite). The full record (code, stderr, stdout) is
fetched by its key only when a page or a recipe asks for it.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import duckdb
import orjson

from loaders.core.connection import quiet_connection
from loaders.ingest.parsing import DirectoryTask, ParsedBatch, WorkerPool
from loaders.ingest.records import (
    ATTEMPT_COLUMNS,
    FileStamp,
    UnreadableFile,
    parse_json_object,
    read_json_object,
    rows_to_json,
    skipped_row,
)
from loaders.ingest.scan import ChangeSet
from loaders.ingest.sources.base import DELTA_SCHEME, S3_SCHEME, SourceUnavailable
from loaders.ingest.sources.s3 import S3PrefixSource, marks_connection, read_object, s3_client, split_s3_url

if TYPE_CHECKING:
    import pyarrow as pa

SOURCE_KEY = "fixtrail.source"
MARKS_KEY = "fixtrail.marks"
COMMIT_ATTEMPTS = 8
PARTITION = "day"
ROWS_SQL = """
SELECT * REPLACE (CAST(code_sketch AS BIGINT[]) AS code_sketch), CAST(timestamp AS DATE) AS day
FROM read_json(?, format = 'array', columns = ?, maximum_object_size = 1073741824)
"""
_ARROW_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "INTEGER": "int32",
    "VARCHAR[]": "strings",
    "UINTEGER[]": "integers",  # Delta has no unsigned types
}


def table_schema() -> pa.Schema:
    """The table's Arrow schema: the index's attempt columns, then ``day`` (the partition)."""
    import pyarrow as pa

    kinds = {
        "string": pa.string(),
        "timestamp": pa.timestamp("us"),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "int32": pa.int32(),
        "strings": pa.list_(pa.string()),
        "integers": pa.list_(pa.int64()),
    }
    fields = [pa.field(name, kinds[_ARROW_TYPES[kind]]) for name, kind in ATTEMPT_COLUMNS]
    return pa.schema([*fields, pa.field(PARTITION, pa.date32())])


def storage_options(url: str) -> dict[str, str] | None:
    """deltalake's options for an ``s3://`` table from the standard AWS environment (None for a local path).

    Commits use S3's conditional writes (``conditional_put: etag``: AWS, MinIO, R2 and Ceph have
    them), so that concurrent writers never overwrite each other's commit without a lock table.
    """
    if not url.startswith(S3_SCHEME):
        return None
    env = os.environ
    # Few, quick retries: an unreachable endpoint is reported in seconds, not after minutes.
    options = {"conditional_put": "etag", "max_retries": "3", "retry_timeout": "30s", "connect_timeout": "5s"}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(name):
            options[name] = env[name]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["AWS_REGION"] = region
    return options


@dataclass(frozen=True)
class CompactReport:
    """One compaction: objects listed and parsed, rows added (merged), objects skipped, the table version,
    seconds in all and in the merge and commit."""

    listed: int
    added: int
    skipped: int
    version: int | None
    seconds: float
    skipped_reasons: tuple[tuple[str, str], ...] = ()
    commit_seconds: float = 0.0


def compact(source_location: str, table_url: str, progress: Callable[[int, int], None] | None = None) -> CompactReport:
    """Merge the slim rows of attempts new under an ``s3://`` prefix into the Delta table at ``table_url``.

    Idempotent (see the module's docstring); a commit that loses a race with another writer is
    tried again, up to COMMIT_ATTEMPTS times. Raises ValueError for a source that is not an
    ``s3://`` prefix, SourceUnavailable when the storage cannot be reached.
    """
    from deltalake.exceptions import CommitFailedError

    if not source_location.startswith(S3_SCHEME):
        raise ValueError(f"compact reads an s3://bucket/prefix, not {source_location!r}")
    source = S3PrefixSource(source_location)
    started = time.perf_counter()
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            return _compact_once(source, table_url, progress, started)
        except CommitFailedError:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))  # another writer committed first
    raise AssertionError("unreachable")


def _compact_once(
    source: S3PrefixSource, table_url: str, progress: Callable[[int, int], None] | None, started: float
) -> CompactReport:
    from deltalake import CommitProperties, DeltaTable

    options = storage_options(table_url)
    try:
        DeltaTable.create(table_url, table_schema(), mode="ignore", partition_by=[PARTITION], storage_options=options)
        table = DeltaTable(table_url, storage_options=options)
    except OSError as exc:
        raise SourceUnavailable(f"the Delta table {table_url} cannot be used: {_first_line(exc)}") from exc
    marks = last_marks(table, source.root)
    with quiet_connection() as con:
        changes = source.find_changes(marks_connection(con, marks), full=False, first_load=False, workers=1)
        new_marks = {**marks, **dict(changes.marks)}
        if new_marks == marks:
            return CompactReport(0, 0, 0, table.version(), time.perf_counter() - started)
        items = [(stamp, folder) for stamp, folder, _ in changes.stale]
        parts, skipped = [], []
        for batch in source.parsed_batches(items, progress, None, None):
            if batch.attempts != b"[]":
                parts.append(_arrow_rows(con, batch.attempts))
            skipped += [(row["path"], row["reason"]) for row in orjson.loads(batch.skipped)]
    rows = _concat(parts)
    metadata = {SOURCE_KEY: source.root, MARKS_KEY: json.dumps(new_marks, sort_keys=True)}
    days = sorted({day.isoformat() for day in rows.column(PARTITION).to_pylist()})
    in_days = " AND t.day IN ({})".format(", ".join(f"DATE '{day}'" for day in days)) if days else ""
    merging = time.perf_counter()
    result = (
        table.merge(
            rows,
            predicate=f"t.path = s.path AND t.day = s.day{in_days}",
            source_alias="s",
            target_alias="t",
            merge_schema=True,  # a table made by an older release gains the newer columns
            commit_properties=CommitProperties(custom_metadata=metadata),
        )
        .when_not_matched_insert_all()
        .execute()
    )
    return CompactReport(
        listed=len(items),
        added=int(result.get("num_target_rows_inserted", 0)),
        skipped=len(skipped),
        version=DeltaTable(table_url, storage_options=options).version(),
        seconds=time.perf_counter() - started,
        skipped_reasons=tuple(skipped),
        commit_seconds=time.perf_counter() - merging,
    )


def last_marks(table: Any, source_root: str) -> dict[str, str]:
    """The marks of the newest commit made for ``source_root`` (empty when there is none)."""
    for limit in (100, None):
        history = table.history(limit) if limit else table.history()
        for commit in history:  # newest first
            if commit.get(SOURCE_KEY) == source_root and MARKS_KEY in commit:
                return json.loads(commit[MARKS_KEY])
        if limit and len(history) < limit:
            break
    return {}


def _arrow_rows(con: duckdb.DuckDBPyConnection, rows_json: bytes) -> pa.Table:
    """Rows given as the index's JSON array, as an Arrow table of table_schema()."""
    with tempfile.NamedTemporaryFile(prefix="compact-", suffix=".json") as handle:
        handle.write(rows_json)
        handle.flush()
        table = con.sql(ROWS_SQL, params=[handle.name, dict(ATTEMPT_COLUMNS)]).to_arrow_table()
    return table.select(table_schema().names).cast(table_schema())


def _concat(parts: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(parts) if parts else table_schema().empty_table()


class DeltaTableSource:
    """The attempts of a Delta table written by ``compact`` (or anything with its columns)."""

    parallel_first_load = False

    def __init__(self, url: str):
        if not url:
            raise ValueError("a Delta table needs a path or an s3:// URL")
        self.url = url if url.startswith(S3_SCHEME) else os.path.abspath(os.path.expanduser(url))
        self.root = f"{DELTA_SCHEME}{self.url}"
        self._scope = f"delta:{self.url}"
        self._table: Any = None
        self._s3: Any = None
        self._sources: tuple[str, ...] | None = None  # the trees the table was compacted from

    def sources(self) -> tuple[str, ...]:
        """The trees or prefixes the table was compacted from (its commits' ``fixtrail.source``).

        A row's ``path`` must lie inside one of them: a row naming any other file (appended by hand
        or by another writer) is refused, as a link out of a local tree is.
        """
        if self._sources is None:
            self._sources = compacted_sources(self._table if self._table is not None else self._open())
        return self._sources

    def _open(self, version: int | None = None) -> Any:
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError

        try:
            return DeltaTable(self.url, version=version, storage_options=storage_options(self.url))
        except TableNotFoundError as exc:
            raise SourceUnavailable(f"no Delta table at {self.url}") from exc
        except (OSError, DeltaError) as exc:
            raise SourceUnavailable(f"the Delta table {self.url} cannot be read: {_first_line(exc)}") from exc

    def find_changes(
        self, connection: duckdb.DuckDBPyConnection, full: bool, first_load: bool, workers: int
    ) -> ChangeSet:
        """The data files added since the version last read; all of them when some were removed (or ``full``)."""
        table = self._open()
        version = table.version()
        changes = ChangeSet(sessions_listed=True, every_file_checked=True, items_are_records=False)
        row = connection.execute("SELECT mark FROM idx.source_marks WHERE scope = ?", [self._scope]).fetchone()
        stored = None if full or row is None else int(row[0])
        if stored == version:
            return changes
        now = _data_files(table)
        new = now
        if stored is not None:
            then = _data_files(self._open(stored))
            new = now - then if then <= now else now
            changes.replace_all = not then <= now
        else:
            changes.replace_all = True
        changes.stale = [(FileStamp(path, -1, -1), "delta", None) for path in sorted(new)]
        changes.marks = [(self._scope, str(version))]
        self._table = table
        self._sources = None  # a new commit may have compacted another prefix
        return changes

    def parsed_batches(
        self,
        items: list[tuple[FileStamp, str]],
        progress: Callable[[int, int], None] | None,
        pool: WorkerPool | None,
        directories: list[DirectoryTask] | None,
    ) -> Iterator[ParsedBatch]:
        """The rows of the new data files, read through deltalake's Arrow dataset as one stream of record batches."""
        import pyarrow as pa
        import pyarrow.dataset as pads

        wanted = {stamp.path for stamp, _ in items}
        dataset = self._table.to_pyarrow_dataset()
        fragments = [fragment for fragment in dataset.get_fragments() if unquote(fragment.path) in wanted]
        if not fragments:
            return
        chosen = pads.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
        names = [name for name, _ in ATTEMPT_COLUMNS]
        # One pass over the path column alone finds the rows that point outside the compacted trees (and
        # data files that are gone or not Parquet: the table's fault, said before anything is written).
        try:
            paths = set(chosen.to_table(columns=["path"]).column("path").to_pylist())
        except (OSError, ValueError, pa.lib.ArrowException) as exc:
            raise SourceUnavailable(f"the Delta table {self.url} cannot be read: {_first_line(exc)}") from exc
        sources = self.sources()
        outside = sorted(path for path in paths if isinstance(path, str) and not path_inside(path, sources))
        kept = pads.field("path").is_valid()  # a row without a path names no record: left out
        if outside:
            kept = kept & ~pads.field("path").isin(outside)
        # A table compacted by an older release lacks the newer columns: they are read as empty.
        present = set(dataset.schema.names)
        types = table_schema()
        columns = {
            name: pads.field(name) if name in present else pads.scalar(pa.scalar(None, types.field(name).type))
            for name in names
        }
        rows = chosen.scanner(columns=columns, filter=kept).to_reader()  # streamed into the index on several threads
        refused = [skipped_row(FileStamp(path, 0, 0), "delta", outside_reason(sources)) for path in outside]
        if None in paths:
            where = f"{self.url}/"  # rows without a path: one skipped entry for the table, saying so
            refused.append(skipped_row(FileStamp(where, 0, 0), "delta", "rows without a path (left out)"))
        if progress:
            progress(1, 1)
        yield ParsedBatch(
            chosen.count_rows(), b"[]", b"[]", rows_to_json(refused), [], len(refused), attempt_table=rows
        )

    def rewritten_files_of(
        self, connection: duckdb.DuckDBPyConnection, session_ids: list[str], with_session_files: bool
    ) -> ChangeSet:
        """Nothing: rows are never rewritten in the table."""
        return ChangeSet()

    def read_record(self, path: str) -> dict[str, Any] | None:
        """The full record a row points at: an ``s3://`` object fetched by its key, or a local file;
        None when it is gone, unreadable, or outside the trees the table was compacted from."""
        try:
            if not path_inside(path, self.sources()):
                return None
            if path.startswith(S3_SCHEME):
                bucket, key = split_s3_url(path)
                if self._s3 is None:
                    self._s3 = s3_client()
                raw = read_object(self._s3, bucket, key)
                return parse_json_object(raw) if raw is not None else None
            return read_json_object(path)
        except (UnreadableFile, SourceUnavailable, ValueError):
            return None


def compacted_sources(table: Any) -> tuple[str, ...]:
    """The ``s3://bucket/prefix`` locations recorded as ``fixtrail.source`` in the table's commits (what
    ``compact`` read), canonical and sorted. ``compact`` reads object storage only, so any other value
    (a local path, ``/``, ``s3://`` without a bucket) is not a source: nothing local is ever served."""
    found = set()
    for commit in table.history():
        value = commit.get(SOURCE_KEY)
        if not isinstance(value, str) or not value.startswith(S3_SCHEME):
            continue
        try:
            bucket, prefix = split_s3_url(value)
        except ValueError:
            continue
        found.add(f"{S3_SCHEME}{bucket}/{prefix}".rstrip("/"))
    return tuple(sorted(found))


def path_inside(path: object, sources: tuple[str, ...]) -> bool:
    """True when ``path`` is an ``s3://`` URL under one of ``sources`` with no empty, ``.`` or ``..`` step
    (what ``split_s3_url`` would fold or refuse); never for a local path or a non-text value."""
    if not isinstance(path, str) or not path.startswith(S3_SCHEME):
        return False
    steps = path[len(S3_SCHEME) :].split("/")
    if any(step in ("", ".", "..") for step in steps):
        return False
    return any(path.startswith(source + "/") for source in sources)


def outside_reason(sources: tuple[str, ...]) -> str:
    """Why a row was refused: its path is outside the trees the table was compacted from (named)."""
    where = ", ".join(sources) if sources else "none recorded in the table's commits"
    return f"path points outside the trees the table was compacted from ({where})"


def _first_line(exc: BaseException) -> str:
    """The first line of an error, with the endpoint of an s3:// table (delta-rs's own text is terse)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    where = f" (endpoint {endpoint})" if endpoint and "Generic S3 error" in str(exc) else ""
    return f"{(str(exc).splitlines() or [type(exc).__name__])[0]}{where}"


def _data_files(table: Any) -> set[str]:
    """The paths (relative to the table, unquoted) of the data files of a table version, from its log."""
    import pyarrow as pa

    return {unquote(path) for path in pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()}
