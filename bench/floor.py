"""The read-and-parse floor of a cold load: every record file read and parsed, nothing else.

What any loader of the tree must do at least: open and read each file a load reads (the attempts
in failures/ and successes/, and the session files), and ``orjson.loads`` it, spread over as many
forked processes as the load has parse workers (``loaders.ingest.parsing.worker_count``). Nothing is
kept, checked or written: no rows, no index. The issue's stretch target for the cold load is
within 2x of this, measured in the same run.

Usage: python -m bench.floor LOGS_DIR  (prints JSON: seconds, files, parsed, processes)
"""

from __future__ import annotations

import json
import os
import sys
import time

import orjson

from loaders.ingest.parsing import worker_count
from loaders.ingest.tree import ATTEMPT_FOLDERS, SESSION_FOLDER, is_candidate

FOLDERS = (*ATTEMPT_FOLDERS, SESSION_FOLDER)


def record_files(root: str) -> list[str]:
    """Every file of the three folders whose name a load reads (``loaders.ingest.tree.is_candidate``), one
    level of date directories under the attempt folders; a folder that is not there has none."""
    paths = []
    for folder in FOLDERS:
        if not os.path.isdir(os.path.join(root, folder)):
            continue
        for entry in os.scandir(os.path.join(root, folder)):
            if entry.is_dir():
                paths += [item.path for item in os.scandir(entry.path) if is_candidate(item.name)]
            elif is_candidate(entry.name):
                paths.append(entry.path)
    return paths


def read_and_parse(paths: list[str]) -> int:
    """Read and parse each file (as the loader does: os.open, os.read of its size, orjson); how many
    parsed into an object (one that cannot be read or parsed is passed over, as the baseline does)."""
    parsed = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                raw = os.read(fd, os.fstat(fd).st_size + 1)
            finally:
                os.close(fd)
            parsed += isinstance(orjson.loads(raw), dict)
        except (OSError, orjson.JSONDecodeError):
            continue
    return parsed


def in_processes(paths: list[str], processes: int) -> int:
    """``read_and_parse`` over ``processes`` forked children, each taking every n-th file; files parsed."""
    children = []
    for number in range(processes):
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: parse its share, write the count, leave without cleanup (never the parent's code)
            status = 1
            try:
                os.close(reader)
                os.write(writer, str(read_and_parse(paths[number::processes])).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(writer)
        children.append((pid, reader))
    parsed, failed = 0, 0
    for pid, reader in children:
        with os.fdopen(reader, "rb") as answer:
            parsed += int(answer.read() or 0)
        failed += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
    if failed:
        raise RuntimeError(f"{failed} of {processes} floor processes failed")
    return parsed


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit(f"usage: python -m bench.floor LOGS_DIR (a log tree's directory; got {sys.argv[1:]})")
    started = time.perf_counter()
    files = record_files(sys.argv[1])
    workers = worker_count()
    parsed = in_processes(files, workers)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "files": len(files), "parsed": parsed, "processes": workers}))
