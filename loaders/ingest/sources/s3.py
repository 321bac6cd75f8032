"""The log tree under a prefix of S3-compatible storage (AWS, MinIO, Ceph, R2), read incrementally.

Objects there are written once and never rewritten (LOG_FORMAT.md, last section), so a listing
needs to see only what is new. Per date prefix (``PREFIX/failures/YYYY-MM-DD/``) the index keeps
the last key seen (``idx.source_marks``), and the next listing starts after it (``StartAfter``).
The project's writer names objects by time-ordered UUIDs (version 7), so a key sorts by when it
was written; the listing starts LATE_WRITE_SECONDS before the last key seen, so that an object
another host wrote a little earlier but uploaded later is not passed over, and keys already in the
index are left out. A prefix whose last key is not time-ordered (another writer's random UUIDs)
is listed whole. A date prefix older than CLOSED_AFTER_DAYS is not listed again once seen (only
``refresh(full=True)`` does, and it also drops the rows of objects deleted since).

Objects are fetched by a pool of FETCH_THREADS threads and parsed by ``loaders.ingest.records`` as files
are, so every coercion, flag and skip reason is the same; an object deleted between listing and
fetching is left out. Endpoint and credentials come from the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
profiles). boto3 is imported only when an ``s3://`` location is used.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from loaders.core.deadline import DeadlineExceeded, within_deadline
from loaders.core.files import mib
from loaders.ingest.parsing import CHUNK_SIZE, DirectoryTask, ParsedBatch, WorkerPool, batch_of_rows
from loaders.ingest.records import (
    FileStamp,
    UnreadableFile,
    attempt_row,
    max_record_bytes,
    parse_json_object,
    skipped_row,
)
from loaders.ingest.scan import ChangeSet
from loaders.ingest.sources.base import S3_SCHEME, SourceUnavailable
from loaders.ingest.tree import ATTEMPT_FOLDERS, is_candidate

if TYPE_CHECKING:
    import duckdb

FETCH_THREADS = 32
LIST_THREADS = 8
LATE_WRITE_SECONDS = 300
CLOSED_AFTER_DAYS = 2
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,62}$")
_UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

MARKS_SQL = "SELECT scope, mark FROM idx.source_marks WHERE starts_with(scope, ?)"
KNOWN_KEYS_SQL = "SELECT path FROM idx_manifest WHERE dir = ? AND path > ?"


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``, the prefix without slashes at its ends; ValueError if malformed."""
    if not url.startswith(S3_SCHEME):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len(S3_SCHEME) :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"not a bucket name in {url!r}")
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError(f"empty, '.' or '..' segment in the prefix of {url!r}")
    return bucket, prefix


def s3_client() -> Any:
    """A boto3 S3 client configured from the standard AWS environment, with short timeouts and few retries.

    Clients are thread-safe: one serves every fetching thread.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=20,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=FETCH_THREADS + LIST_THREADS,
    )
    return boto3.session.Session().client("s3", config=config)


def describe_failure(client: Any, exc: BaseException) -> str:
    """A line for people: which endpoint failed and how."""
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None) or "the default AWS endpoint"
    why = (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"object storage at {endpoint} cannot be used: {why}"


# Errors after which the same request may well succeed later: the refresh stops (nothing is written,
# the next one starts from the same place) instead of skipping the object for good.
TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "Throttling"}
)
# One object, fetched whole (request, headers and body), within this many seconds; one listing page too.
OBJECT_DEADLINE_SECONDS = 60.0
READ_CHUNK = 1 << 20


def read_object(client: Any, bucket: str, key: str, deadline: float | None = None) -> bytes | None:
    """The bytes of one object (at most max_record_bytes()), or None when it is gone.

    Raises UnreadableFile when it is too large or access is refused (the object is then skipped),
    SourceUnavailable when the endpoint cannot be reached, answers a transient error (5xx, throttling)
    or does not deliver the object within ``deadline`` seconds (default OBJECT_DEADLINE_SECONDS; the
    refresh is then tried again later).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    limit = max_record_bytes()
    streams: list[Any] = []
    cancelled = threading.Event()  # set at the deadline: the abandoned fetch stops reading

    def give_up() -> None:
        cancelled.set()
        _close_all(streams)

    def fetch() -> bytes:
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        streams.append(body)
        if cancelled.is_set():
            body.close()
            raise SourceUnavailable(f"fetching s3://{bucket}/{key} was given up")
        size = response.get("ContentLength")  # absent from a chunked answer
        if size is not None and size > limit:
            body.close()
            raise UnreadableFile(f"larger than the {mib(limit)} limit ({mib(size)})")
        data = _read_capped(body, limit, cancelled)
        if size is not None and len(data) < size:
            raise SourceUnavailable(f"object storage cut {key} short ({len(data)} of {size} bytes)")
        return data

    try:
        seconds = OBJECT_DEADLINE_SECONDS if deadline is None else deadline
        return within_deadline(fetch, seconds, f"fetching s3://{bucket}/{key}", give_up)
    except DeadlineExceeded as exc:
        raise SourceUnavailable(describe_failure(client, exc)) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return None
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status >= 500 or code in TRANSIENT_CODES:
            raise SourceUnavailable(describe_failure(client, exc)) from exc
        raise UnreadableFile(f"cannot be read: {code or exc}") from exc
    except (BotoCoreError, OSError) as exc:
        raise SourceUnavailable(describe_failure(client, exc)) from exc


def _read_capped(body: Any, limit: int, cancelled: threading.Event) -> bytes:
    """A streamed body's bytes, refused (UnreadableFile) once more than ``limit`` arrived; stops when
    ``cancelled`` is set (its caller gave up at the deadline)."""
    raw = getattr(body, "_raw_stream", None)
    read = raw.read1 if raw is not None and hasattr(raw, "read1") else body.read  # read1: what has arrived
    chunks, total = [], 0
    while not cancelled.is_set() and (chunk := read(READ_CHUNK)):
        total += len(chunk)
        if total > limit:
            body.close()
            raise UnreadableFile(f"larger than the {mib(limit)} limit")
        chunks.append(chunk)
    if cancelled.is_set():
        body.close()
        raise SourceUnavailable("the fetch was given up at its deadline")
    return b"".join(chunks)


def _close_all(streams: list[Any]) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.close()


def listing_pages(client: Any, options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pages of a ``list_objects_v2`` listing, each fetched within OBJECT_DEADLINE_SECONDS
    (raises DeadlineExceeded, or what boto3 raises)."""
    token = None
    while True:
        request = {**options, **({"ContinuationToken": token} if token else {})}
        page = within_deadline(
            lambda request=request: client.list_objects_v2(**request), OBJECT_DEADLINE_SECONDS, "a listing page"
        )
        yield page
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


@dataclass(frozen=True)
class ListedObject:
    """One listed object: its key, size and last-modified time (ns), and its folder (failures, successes)."""

    key: str
    size: int
    mtime_ns: int
    folder: str


class S3PrefixSource:
    """Attempt objects under ``s3://bucket/prefix`` (no session files: sessions are derived from the attempts)."""

    parallel_first_load = False

    def __init__(self, url: str):
        self.bucket, self.prefix = split_s3_url(url)
        self.root = f"{S3_SCHEME}{self.bucket}/{self.prefix}".rstrip("/")
        self._base = f"{self.prefix}/" if self.prefix else ""
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = s3_client()
            return self._client

    def url_of(self, key: str) -> str:
        """The ``s3://`` URL of a key of this bucket: the ``path`` of its row."""
        return f"{S3_SCHEME}{self.bucket}/{key}"

    def find_changes(
        self, connection: duckdb.DuckDBPyConnection, full: bool, first_load: bool, workers: int
    ) -> ChangeSet:
        """The objects listed since the stored marks; with ``full``, every object (rows of deleted ones dropped)."""
        changes = ChangeSet(sessions_listed=True, every_file_checked=True)
        marks = {} if full else dict(connection.execute(MARKS_SQL, [self._base]).fetchall())
        prefixes = self._date_prefixes()
        today = datetime.now(UTC).date()
        to_list = [
            (prefix, folder, self._start_after(prefix, marks.get(prefix)))
            for prefix, folder in prefixes
            if full or prefix not in marks or not _is_closed(prefix, today)
        ]
        listed: list[tuple[str, list[ListedObject]]] = []
        with ThreadPoolExecutor(LIST_THREADS) as executor:
            results = executor.map(lambda job: (job[0], self._list_prefix(*job)), to_list)
            listed = list(results)
        for (prefix, _folder, start_after), (_, objects) in zip(to_list, listed, strict=True):
            known = set() if full else self._known_keys(connection, prefix, start_after)
            for obj in objects:
                url = self.url_of(obj.key)
                if url not in known:
                    changes.stale.append((FileStamp(url, obj.size, obj.mtime_ns), obj.folder, None))
            if objects:
                newest = max(obj.key for obj in objects)
                if newest > marks.get(prefix, ""):
                    changes.marks.append((prefix, newest))
        changes.replace_all = full  # the rows of objects deleted since go with the rest
        return changes

    def _date_prefixes(self) -> list[tuple[str, str]]:
        """(prefix, folder) of every date prefix under failures/ and successes/, and of each folder itself."""
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        try:
            for folder in ATTEMPT_FOLDERS:
                top = f"{self._base}{folder}/"
                found.append((top, folder))  # objects right under the folder, as a flat tree has them
                for page in listing_pages(self.client, {"Bucket": self.bucket, "Prefix": top, "Delimiter": "/"}):
                    found += [(common["Prefix"], folder) for common in page.get("CommonPrefixes", [])]
        except (BotoCoreError, ClientError, DeadlineExceeded) as exc:
            raise SourceUnavailable(describe_failure(self.client, exc)) from exc
        return found

    def _list_prefix(self, prefix: str, folder: str, start_after: str | None) -> list[ListedObject]:
        """The candidate objects right under one prefix, after ``start_after`` when given."""
        from botocore.exceptions import BotoCoreError, ClientError

        options = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
        if start_after:
            options["StartAfter"] = start_after
        objects = []
        try:
            for page in listing_pages(self.client, options):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if is_candidate(key.rpartition("/")[2]):
                        mtime_ns = int(item["LastModified"].timestamp() * 1e9)
                        objects.append(ListedObject(key, int(item["Size"]), mtime_ns, folder))
        except (BotoCoreError, ClientError, DeadlineExceeded) as exc:
            raise SourceUnavailable(describe_failure(self.client, exc)) from exc
        return objects

    @staticmethod
    def _start_after(prefix: str, mark: str | None) -> str | None:
        """Where to list a prefix from: LATE_WRITE_SECONDS before its last key when keys are time-ordered."""
        if not mark:
            return None
        stem = mark[len(prefix) :].removesuffix(".json")
        if not _UUID7.match(stem):
            return None
        millis = max(0, int(stem[:8] + stem[9:13], 16) - LATE_WRITE_SECONDS * 1000)
        digits = f"{millis:012x}"
        return f"{prefix}{digits[:8]}-{digits[8:]}"

    def _known_keys(self, connection: duckdb.DuckDBPyConnection, prefix: str, start_after: str | None) -> set[str]:
        directory = self.url_of(prefix).rstrip("/")
        after = self.url_of(start_after) if start_after else ""
        return {row[0] for row in connection.execute(KNOWN_KEYS_SQL, [directory, after]).fetchall()}

    def parsed_batches(
        self,
        items: list[tuple[FileStamp, str]],
        progress: Callable[[int, int], None] | None,
        pool: WorkerPool | None,
        directories: list[DirectoryTask] | None,
    ) -> Iterator[ParsedBatch]:
        """The listed objects fetched by FETCH_THREADS threads and parsed, CHUNK_SIZE per batch."""
        chunks = [items[i : i + CHUNK_SIZE] for i in range(0, len(items), CHUNK_SIZE)]
        client = self.client
        with ThreadPoolExecutor(FETCH_THREADS) as executor:
            for done, chunk in enumerate(chunks, start=1):
                results = list(executor.map(lambda item: self._fetch_and_parse(client, *item), chunk))
                attempts = [row for kind, row in results if kind == "attempt"]
                skipped = [row for kind, row in results if kind == "skipped"]
                if progress:
                    progress(done, len(chunks))
                yield batch_of_rows(len(attempts) + len(skipped), attempts, skipped)

    def _fetch_and_parse(self, client: Any, stamp: FileStamp, folder: str) -> tuple[str, dict | None]:
        """("attempt", row), ("skipped", row) or ("gone", None) for one listed object."""
        key = stamp.path[len(S3_SCHEME) + len(self.bucket) + 1 :]
        try:
            raw = read_object(client, self.bucket, key)
            if raw is None:
                return "gone", None
            data = parse_json_object(raw)
        except UnreadableFile as exc:
            return "skipped", skipped_row(stamp, folder, str(exc))
        return "attempt", attempt_row(data, stamp, folder)

    def rewritten_files_of(
        self, connection: duckdb.DuckDBPyConnection, session_ids: list[str], with_session_files: bool
    ) -> ChangeSet:
        """Nothing: objects are never rewritten."""
        return ChangeSet()

    def read_record(self, path: str) -> dict[str, Any] | None:
        """The JSON object at an ``s3://`` URL under this source's prefix; None if gone, unreadable or elsewhere."""
        base = self.url_of(self._base)
        if not path.startswith(base) or "/../" in path:
            return None
        try:
            raw = read_object(self.client, self.bucket, path[len(S3_SCHEME) + len(self.bucket) + 1 :])
            return parse_json_object(raw) if raw is not None else None
        except (UnreadableFile, SourceUnavailable):
            return None


def marks_connection(con: duckdb.DuckDBPyConnection, marks: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """``con`` with an in-memory ``idx`` holding only these marks and no rows: what a listing starts from
    outside an index (the compactor keeps its marks in the Delta commit)."""
    con.execute("ATTACH ':memory:' AS idx")
    con.execute("CREATE TABLE idx.source_marks (scope VARCHAR PRIMARY KEY, mark VARCHAR)")
    if marks:
        con.executemany("INSERT INTO idx.source_marks VALUES (?, ?)", list(marks.items()))
    con.execute("CREATE TEMP VIEW idx_manifest AS SELECT ''::VARCHAR AS path, ''::VARCHAR AS dir WHERE false")
    return con


def _is_closed(prefix: str, today: date) -> bool:
    """True for a date prefix older than CLOSED_AFTER_DAYS: no host writes into it any more."""
    name = prefix.rstrip("/").rpartition("/")[2]
    try:
        day = date.fromisoformat(name)
    except ValueError:
        return False
    return day < today - timedelta(days=CLOSED_AFTER_DAYS)
