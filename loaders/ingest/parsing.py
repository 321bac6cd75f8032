"""Parsing many files at once into rows: in this process for a few, in worker processes for many.

Why a parser outside DuckDB: DuckDB's ``read_text`` + ``from_json`` fails a whole batch on one
file that is not UTF-8 or not JSON (a file must be skipped with its reason, never lose its
neighbours), and the derived columns (key error line, fingerprint, imports) need the full texts
once, in Python. orjson in worker processes is also the faster path: the benchmark (``make
bench``) measures both side by side. Rows travel as JSON arrays that DuckDB reads with explicit
column types. Work is given out as chunks of known files, or, on a first load, as whole
directories that the workers list themselves (``DirectoryTask``). Workers are fresh interpreters
(``loaders.ingest.parse_worker``), not multiprocessing children: a caller's script is never re-imported.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from loaders.ingest.code_changes import read_tree_record, token_changes
from loaders.ingest.records import FileStamp, max_record_bytes, parse_file, rows_to_json, skipped_row
from loaders.ingest.tree import SESSION_FOLDER, list_candidates

PARALLEL_THRESHOLD = 3000
CHUNK_SIZE = 2000
DIRECTORY_BATCH_FILES = 5000
STOP_POLL_SECONDS = 0.05  # how often WorkerPool.changes asks whether it should stop while it waits
_STOPPED = object()  # what _next_result returns when asked to stop while waiting


@dataclass
class ParsedBatch:
    """One chunk's rows as a JSON array per table, and the sessions its attempts name."""

    files: int
    attempts: bytes
    sessions: bytes
    skipped: bytes
    session_ids: list[str]
    skipped_count: int = 0
    # Attempt rows as an Arrow table instead of JSON (read from a Delta table); never sent by a worker.
    attempt_table: Any = None
    more: bool = False  # more batches of the same task follow (a directory task's files, DIRECTORY_BATCH_FILES a batch)

    def to_frame(self) -> bytes:
        """The batch as one length-prefixed frame (how a worker sends it)."""
        counts = f"{self.files} {self.skipped_count} {int(self.more)}".encode()
        parts = [counts, self.attempts, self.sessions, self.skipped, orjson.dumps(self.session_ids)]
        return b"".join(len(part).to_bytes(8, "big") + part for part in parts)

    @classmethod
    def read_frame(cls, stream: BinaryIO) -> ParsedBatch:
        """Read one frame written by ``to_frame``; raises EOFError when the stream ends early."""
        parts = [_read_part(stream) for _ in range(5)]
        files, skipped_count, more = map(int, parts[0].split())
        return cls(files, parts[1], parts[2], parts[3], orjson.loads(parts[4]), skipped_count, more=bool(more))


def _read_part(stream: BinaryIO) -> bytes:
    """One length-prefixed part of a worker's answer; raises EOFError when the stream ends early."""
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("parse worker stopped")
    size = int.from_bytes(header, "big")
    part = stream.read(size)
    if len(part) < size:
        raise EOFError("parse worker stopped")
    return part


@dataclass(frozen=True)
class DirectoryTask:
    """Parse every candidate file of one directory (or of one shard of it: see tree.list_candidates).

    How a first load is split: the workers list the tree themselves, so that listing tens of
    thousands of names is spread over them instead of holding them up in the parent.
    """

    path: str
    folder: str
    root: str
    shard: int = 0
    shards: int = 1
    batch_files: int = field(default_factory=lambda: DIRECTORY_BATCH_FILES)  # files a batch (parse_directory)

    def to_message(self) -> dict:
        """The task as the JSON object a worker reads."""
        return {
            "dir": self.path,
            "folder": self.folder,
            "root": self.root,
            "shard": self.shard,
            "shards": self.shards,
            "batch_files": self.batch_files,
        }

    @classmethod
    def from_message(cls, message: dict) -> DirectoryTask:
        """The task a ``to_message`` object describes."""
        names = ("dir", "folder", "root", "shard", "shards", "batch_files")
        return cls(*(message[name] for name in names))


def parse_chunk(
    chunk: list[tuple[FileStamp, str]], rejected: list[tuple[FileStamp, str, str]] | None = None
) -> ParsedBatch:
    """Parse (stamp, folder) pairs into one ParsedBatch; ``rejected`` (stamp, folder, reason) are skipped rows."""
    attempts, sessions = [], []
    skipped = [skipped_row(stamp, folder, reason) for stamp, folder, reason in rejected or ()]
    limit = max_record_bytes()
    for stamp, folder in chunk:
        result = parse_file(stamp, folder, limit)
        if result.row is None:
            skipped.append(skipped_row(result.stamp, folder, result.reason or "unreadable"))
        elif folder == SESSION_FOLDER:
            sessions.append(result.row)
        else:
            attempts.append(result.row)
    return batch_of_rows(len(chunk), attempts, skipped, sessions)


def batch_of_rows(
    files: int, attempts: list[dict], skipped: list[dict], sessions: list[dict] | None = None
) -> ParsedBatch:
    """One ParsedBatch of rows already made (attempt, skipped and session rows) for ``files`` files."""
    return ParsedBatch(
        files=files,
        attempts=rows_to_json(attempts),
        sessions=rows_to_json(sessions or []),
        skipped=rows_to_json(skipped),
        session_ids=sorted({row["session_id"] for row in attempts}),
        skipped_count=len(skipped),
    )


def parse_directory(task: DirectoryTask) -> Iterator[ParsedBatch]:
    """List one directory task and parse its files, ``batch_files`` a batch; every batch but the
    last says ``more``. A worker holds one batch's rows at a time, not a directory's: a shard of the
    sessions folder of 1,000,000 sessions is 500,000 files, and as one batch took a worker to 1.6 GiB."""
    listed = list_candidates(task.path, Path(task.root), task.shard, task.shards)
    files = [(stamp, task.folder) for stamp, reason in listed if reason is None]
    rejected = [(stamp, task.folder, reason) for stamp, reason in listed if reason is not None]
    size = max(1, task.batch_files)
    starts = range(0, len(files), size) if files else range(1)
    for number, start in enumerate(starts):
        batch = parse_chunk(files[start : start + size], rejected if number == 0 else None)
        batch.more = number < len(starts) - 1
        yield batch


@dataclass(frozen=True)
class ChangesTask:
    """Work out what changed in (failure path, next path) pairs of the local tree at ``root`` (fix recipes).

    ``number`` tells which piece of work an answer is for: the workers answer tasks as they finish them.
    """

    number: int
    root: str
    pairs: list[tuple[str, str]]

    def to_message(self) -> dict:
        """The task as the JSON object a worker reads."""
        return {"changes": self.pairs, "root": self.root, "number": self.number}

    @staticmethod
    def answer(message: dict) -> bytes:
        """What a worker sends back for a task's message: one length-prefixed JSON array of
        [number, token changes] (``loaders.ingest.code_changes.token_changes``)."""
        pairs = [(failure, after) for failure, after in message["changes"]]
        part = orjson.dumps([message["number"], token_changes(pairs, read_tree_record(message["root"]))])
        return len(part).to_bytes(8, "big") + part


Task = list[tuple[FileStamp, str]] | DirectoryTask | ChangesTask


class WorkerPool:
    """Parse worker processes (``python -m loaders.ingest.parse_worker``) fed from one queue of chunks.

    Started before the tree is listed on a first load, so that the workers' interpreter start
    overlaps the listing. One thread per worker takes
    the next chunk from the queue (so a slow chunk never holds the others back) and collects its
    batch. ``results()`` yields a batch for every chunk submitted. Close it (or use it as a context
    manager) to stop the workers.
    """

    def __init__(self, workers: int | None = None):
        count = workers or worker_count()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        self._procs: list[subprocess.Popen] = []
        try:
            for _ in range(count):
                self._procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "loaders.ingest.parse_worker"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        env=env,
                        # Out of the terminal's process group: Ctrl-C is for the parent, which ends its
                        # workers by closing their input (also when it dies).
                        start_new_session=True,
                    )
                )
        except BaseException:  # a later worker could not start (no memory, no processes left): stop the first
            for proc in self._procs:
                proc.kill()
                proc.wait()
            raise
        self._tasks: queue.Queue[Task | None] = queue.Queue()
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

    def submit(self, task: Task) -> None:
        """Queue one chunk of files, or one directory task, for the next free worker."""
        if task:
            self._submitted += 1
            self._tasks.put(task)

    def results(self) -> Iterator[ParsedBatch]:
        """A batch for every chunk submitted so far, as they arrive (any order)."""
        while self._submitted:
            yield self._next_result()

    def changes(
        self, tasks: Iterable[ChangesTask], ahead: int, stopped: Callable[[], bool] | None = None
    ) -> Iterator[tuple[int, list[list[list[str]]]]]:
        """(task number, its token changes: ``loaders.ingest.code_changes.token_changes``) for each task, as the
        workers finish them (any order). At most ``ahead`` tasks are handed out and not yet answered:
        the tasks are taken from ``tasks`` as answers come back, so only those are held at once.
        Ends early, without waiting for the answers in hand, once ``stopped()`` is true (asked every
        STOP_POLL_SECONDS while waiting): then close the pool with ``kill=True``."""
        pending = iter(tasks)
        for task in itertools.islice(pending, max(1, ahead)):
            self.submit(task)
        while self._submitted:
            answer = self._next_result(stopped)
            if answer is _STOPPED:
                return
            number, changes = answer
            following = next(pending, None)
            if following is not None:
                self.submit(following)
            yield number, changes

    def _next_result(self, stopped: Callable[[], bool] | None = None) -> Any:
        while True:
            try:
                item = self._results.get(timeout=STOP_POLL_SECONDS if stopped else None)
                break
            except queue.Empty:
                if stopped and stopped():
                    return _STOPPED
        if isinstance(item, ParsedBatch) and item.more:
            return item
        self._submitted -= 1
        if isinstance(item, BaseException):
            raise RuntimeError("a parse worker failed") from item
        return item

    def _serve(self, proc: subprocess.Popen) -> None:
        """Feed one worker chunks from the queue and collect its batches (one thread per worker)."""
        while (task := self._tasks.get()) is not None:
            try:
                if isinstance(task, (DirectoryTask, ChangesTask)):
                    line = orjson.dumps(task.to_message())
                else:
                    line = orjson.dumps([[stamp.path, folder] for stamp, folder in task])
                proc.stdin.write(line + b"\n")
                proc.stdin.flush()
                if isinstance(task, ChangesTask):
                    self._results.put(orjson.loads(_read_part(proc.stdout)))
                    continue
                while (batch := ParsedBatch.read_frame(proc.stdout)).more:
                    self._results.put(batch)  # a part of the task's answer: not counted as its end
                self._results.put(batch)
            except BaseException as exc:  # reported to the consumer, which raises it
                self._results.put(exc)

    def close(self, kill: bool = False) -> None:
        """Stop the workers (closing their input ends them); ``kill``: at once, their work in hand dropped."""
        if kill:
            for proc in self._procs:
                proc.kill()
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


def worker_count() -> int:
    """How many parse workers to use: the CPUs this process may run on, at most 8."""
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
    directories: list[DirectoryTask] | None = None,
) -> Iterator[ParsedBatch]:
    """Parse every (stamp, folder) pair and every directory task, yielding one ParsedBatch per chunk or task.

    Parameters: items; ``progress(done, total)`` called after each batch, counting batches;
    ``pool``, workers already started (else some are started when
    there are enough files to pay for them); ``directories``, tasks that list and parse whole
    directories (a first load).
    """
    directories = directories or []
    workers = pool.size if pool else worker_count()
    parallel = workers > 1 and (pool is not None or len(items) >= PARALLEL_THRESHOLD)
    if not parallel:
        tasks: list[Task] = [*directories, items] if items else list(directories)
        batches: Iterator[ParsedBatch] = itertools.chain.from_iterable(parse_task(task) for task in tasks)
    else:
        own_pool = pool is None
        pool = pool or WorkerPool(workers)
        tasks = [*directories, *chunked(items, pool.size)]
        for task in tasks:
            pool.submit(task)
        batches = _closing(pool, pool.results()) if own_pool else pool.results()
    done = 0
    for batch in batches:
        done += not batch.more  # a task is done with its last batch
        if progress and not batch.more:
            progress(done, len(tasks))
        yield batch


def parse_task(task: Task) -> Iterator[ParsedBatch]:
    """The batches of one task: a directory's (parse_directory), or a chunk's one batch."""
    return parse_directory(task) if isinstance(task, DirectoryTask) else iter([parse_chunk(task)])


def _closing(pool: WorkerPool, batches: Iterator[ParsedBatch]) -> Iterator[ParsedBatch]:
    with pool:
        yield from batches
