"""Parsing many files at once: in this process for a few, in worker processes for many.

Parsing is CPU-bound JSON decoding (orjson) plus the derived columns; below PARALLEL_THRESHOLD
files the start of worker processes costs more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from loaders.records import FileStamp, ParseResult, parse_file

PARALLEL_THRESHOLD = 4000
CHUNK_SIZE = 1000


def _parse_chunk(chunk: list[tuple[FileStamp, str]]) -> list[ParseResult]:
    return [parse_file(stamp, folder) for stamp, folder in chunk]


def _worker_count() -> int:
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available, 8))


def parse_stamps(
    items: list[tuple[FileStamp, str]],
    progress: Callable[[int, int], None] | None = None,
) -> list[ParseResult]:
    """Parse every (stamp, folder) pair; results in the same order as ``items``.

    Parameters: items, and ``progress(done, total)`` called after each chunk.
    """
    total = len(items)
    chunks = [items[i : i + CHUNK_SIZE] for i in range(0, total, CHUNK_SIZE)]
    workers = _worker_count()
    results: list[ParseResult] = []
    if total < PARALLEL_THRESHOLD or workers == 1:
        for chunk in chunks:
            results.extend(_parse_chunk(chunk))
            if progress:
                progress(len(results), total)
        return results
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        for chunk_results in pool.map(_parse_chunk, chunks):
            results.extend(chunk_results)
            if progress:
                progress(len(results), total)
    return results
