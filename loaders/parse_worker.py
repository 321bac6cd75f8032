"""A parse worker process: reads chunks of (path, folder) on stdin, writes parsed batches on stdout.

Started by ``loaders.parsing.WorkerPool`` as ``python -m loaders.parse_worker``; a fresh interpreter
rather than a multiprocessing child, so that the caller's ``__main__`` is never re-imported and no
thread state is forked. Protocol: each stdin line is a JSON array of [path, folder] pairs, or a JSON
object describing a directory task (``DirectoryTask.to_message``); for each, one frame on stdout
(``ParsedBatch.to_frame``). A ``ChangesTask`` message (fix recipes) is answered with its changes
(``ChangesTask.answer``).
"""

from __future__ import annotations

import sys


def main() -> int:
    """Serve chunks until stdin closes."""
    import orjson

    from loaders.parsing import ChangesTask, DirectoryTask, parse_chunk, parse_directory
    from loaders.records import FileStamp

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
            batch = parse_directory(DirectoryTask.from_message(message))
        else:
            batch = parse_chunk([(FileStamp(path, -1, -1), folder) for path, folder in message])
        out.write(batch.to_frame())
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
