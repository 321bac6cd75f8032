"""A parse worker process: reads chunks of (path, folder) on stdin, writes parsed batches on stdout.

Started by ``loaders.ingest.parsing.WorkerPool`` as ``python -m loaders.ingest.parse_worker``; a fresh interpreter
rather than a multiprocessing child, so that the caller's ``__main__`` is never re-imported and no
thread state is forked. Protocol: each stdin line is a JSON array of [path, folder] pairs, or a JSON
object describing a directory task (``DirectoryTask.to_message``); for each, frames on stdout
(``ParsedBatch.to_frame``): one for a chunk, one per DIRECTORY_BATCH_FILES files for a directory,
each but the last marked ``more``. A ``ChangesTask`` message (fix recipes) is answered with its changes
(``ChangesTask.answer``).
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    """Serve chunks until stdin closes (or its parent stops reading)."""
    # The parent ends a worker by closing its input (WorkerPool.close). A signal sent to the whole
    # process group (Ctrl-C in a terminal, a service manager stopping the dashboard) is the parent's
    # to act on: a worker killed by it would fail the parent's load with a traceback.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    try:
        return _serve()
    except BrokenPipeError:  # the parent is gone: nothing to say, and no flush at exit to fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _serve() -> int:
    import orjson

    from loaders.ingest.parsing import ChangesTask, DirectoryTask, parse_task
    from loaders.ingest.records import FileStamp

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        message = orjson.loads(line)
        if isinstance(message, dict) and "changes" in message:
            out.write(ChangesTask.answer(message))
            out.flush()
            continue
        if isinstance(message, dict):
            task = DirectoryTask.from_message(message)
        else:
            task = [(FileStamp(path, -1, -1), folder) for path, folder in message]
        for batch in parse_task(task):
            out.write(batch.to_frame())
            out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
