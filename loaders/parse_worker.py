"""A parse worker process: reads chunks of (path, folder) on stdin, writes parsed batches on stdout.

Started by ``loaders.parsing.WorkerPool`` as ``python -m loaders.parse_worker``; a fresh interpreter
rather than a multiprocessing child, so that the caller's ``__main__`` is never re-imported and no
thread state is forked. Protocol: each stdin line is a JSON array of [path, folder] pairs; for each,
one frame on stdout (``ParsedBatch.to_frame``).
"""

from __future__ import annotations

import sys


def main() -> int:
    """Serve chunks until stdin closes."""
    import orjson

    from loaders.parsing import parse_chunk
    from loaders.records import FileStamp

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        chunk = [(FileStamp(path, -1, -1), folder) for path, folder in orjson.loads(line)]
        out.write(parse_chunk(chunk).to_frame())
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
