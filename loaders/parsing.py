"""Parsing many files at once into Arrow tables: in this process for a few, in workers for many.

Why a parser outside DuckDB: DuckDB's ``read_text`` + ``from_json`` fails a whole batch on one
file that is not UTF-8 or not JSON (a file must be skipped with its reason, never lose its
neighbours), and the derived columns (key error line, fingerprint, imports) need the full texts
once, in Python. orjson in worker processes is also the faster path: the benchmark (``make
bench``) measures both side by side. Rows travel as JSON arrays that DuckDB reads with
explicit column types. Workers are fresh interpreters
(``loaders.parse_worker``), not multiprocessing children: a caller's script is never re-imported.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import orjson

from loaders.records import FileStamp, parse_file, rows_to_json, skipped_row

PARALLEL_THRESHOLD = 3000
CHUNK_SIZE = 2000
SESSION_FOLDER = "sessions"


@dataclass
class ParsedBatch:
    """One chunk's rows as a JSON array per table, and the sessions its attempts name."""

    files: int
    attempts: bytes
    sessions: bytes
    skipped: bytes
    session_ids: list[str]
    skipped_count: int = 0

    def to_frame(self) -> bytes:
        """The batch as one length-prefixed frame (how a worker sends it)."""
        counts = f"{self.files} {self.skipped_count}".encode()
        parts = [counts, self.attempts, self.sessions, self.skipped, orjson.dumps(self.session_ids)]
        return b"".join(len(part).to_bytes(8, "big") + part for part in parts)

    @classmethod
    def read_frame(cls, stream: BinaryIO) -> ParsedBatch:
        """Read one frame written by ``to_frame``; raises EOFError when the stream ends early."""
        parts = []
        for _ in range(5):
            header = stream.read(8)
            if len(header) < 8:
                raise EOFError("parse worker stopped")
            size = int.from_bytes(header, "big")
            part = stream.read(size)
            if len(part) < size:
                raise EOFError("parse worker stopped")
            parts.append(part)
        files, skipped_count = map(int, parts[0].split())
        return cls(files, parts[1], parts[2], parts[3], orjson.loads(parts[4]), skipped_count)


def parse_chunk(chunk: list[tuple[FileStamp, str]]) -> ParsedBatch:
    """Parse (stamp, folder) pairs into one ParsedBatch."""
    attempts, sessions, skipped = [], [], []
    for stamp, folder in chunk:
        result = parse_file(stamp, folder)
        if result.row is None:
            skipped.append(skipped_row(result.stamp, folder, result.reason or "unreadable"))
        elif folder == SESSION_FOLDER:
            sessions.append(result.row)
        else:
            attempts.append(result.row)
    return ParsedBatch(
        files=len(chunk),
        attempts=rows_to_json(attempts),
        sessions=rows_to_json(sessions),
        skipped=rows_to_json(skipped),
        session_ids=sorted({row["session_id"] for row in attempts}),
        skipped_count=len(skipped),
    )


class WorkerPool:
    """Parse worker processes (``python -m loaders.parse_worker``) fed from one queue of chunks.

    Started before the tree is listed on a first load, so that the workers' interpreter start
    overlaps the listing. One thread per worker takes
    the next chunk from the queue (so a slow chunk never holds the others back) and collects its
    batch. ``results()`` yields a batch for every chunk submitted. Close it (or use it as a context
    manager) to stop the workers.
    """

    def __init__(self, workers: int | None = None):
        count = workers or _worker_count()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-m", "loaders.parse_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            for _ in range(count)
        ]
        self._tasks: queue.Queue[list[tuple[FileStamp, str]] | None] = queue.Queue()
        self._results: queue.Queue[ParsedBatch | BaseException] = queue.Queue()
        self._submitted = 0
        self._threads = [threading.Thread(target=self._serve, args=(proc,), daemon=True) for proc in self._procs]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        """How many workers there are."""
        return len(self._procs)

    def submit(self, chunk: list[tuple[FileStamp, str]]) -> None:
        """Queue one chunk for the next free worker."""
        if chunk:
            self._submitted += 1
            self._tasks.put(chunk)

    def results(self) -> Iterator[ParsedBatch]:
        """A batch for every chunk submitted so far, as they arrive (any order)."""
        while self._submitted:
            item = self._results.get()
            self._submitted -= 1
            if isinstance(item, BaseException):
                raise RuntimeError("a parse worker failed") from item
            yield item

    def _serve(self, proc: subprocess.Popen) -> None:
        """Feed one worker chunks from the queue and collect its batches (one thread per worker)."""
        while (chunk := self._tasks.get()) is not None:
            try:
                line = orjson.dumps([[stamp.path, folder] for stamp, folder in chunk])
                proc.stdin.write(line + b"\n")
                proc.stdin.flush()
                self._results.put(ParsedBatch.read_frame(proc.stdout))
            except BaseException as exc:  # reported to the consumer, which raises it
                self._results.put(exc)

    def close(self) -> None:
        """Stop the workers (closing their input ends them)."""
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        for proc in self._procs:
            if proc.stdin and not proc.stdin.closed:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()


_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _worker_count() -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available, 8))


def chunked(items: list[tuple[FileStamp, str]], workers: int) -> list[list[tuple[FileStamp, str]]]:
    """Items in chunks small enough to keep every worker busy to the end."""
    size = max(200, min(CHUNK_SIZE, len(items) // (workers * 4) + 1))
    return [items[i : i + size] for i in range(0, len(items), size)]


def parse_batches(
    items: list[tuple[FileStamp, str]],
    progress: Callable[[int, int], None] | None = None,
    pool: WorkerPool | None = None,
) -> Iterator[ParsedBatch]:
    """Parse every (stamp, folder) pair, yielding one ParsedBatch per chunk as it is ready.

    Parameters: items; ``progress(done, total)`` called after each chunk; ``pool``, workers
    already started (else some are started when there are enough files to pay for them).
    """
    total = len(items)
    workers = pool.size if pool else _worker_count()
    parallel = workers > 1 and (pool is not None or total >= PARALLEL_THRESHOLD)
    done = 0
    if not parallel:
        batches: Iterator[ParsedBatch] = (parse_chunk(items),) if items else iter(())
    else:
        own_pool = pool is None
        pool = pool or WorkerPool(workers)
        for chunk in chunked(items, pool.size):
            pool.submit(chunk)
        batches = _closing(pool, pool.results()) if own_pool else pool.results()
    for batch in batches:
        done += batch.files
        if progress:
            progress(done, total)
        yield batch


def _closing(pool: WorkerPool, batches: Iterator[ParsedBatch]) -> Iterator[ParsedBatch]:
    with pool:
        yield from batches
