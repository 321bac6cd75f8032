"""Times one load call in a fresh process: LogIndex(...).refresh(), without interpreter start or imports.

Usage: python -m bench.load_call LOGS_DIR CACHE_DIR [file|memory]  (prints JSON: seconds, parsed)
``file`` queries the index file in place (what the CLI does), ``memory`` copies it into memory
(what the dashboard and the API do).
"""

from __future__ import annotations

import json
import sys
import time

from loaders.store.index import LogIndex

if __name__ == "__main__":
    mode = sys.argv[3] if len(sys.argv) > 3 else "file"
    started = time.perf_counter()
    index = LogIndex(sys.argv[1], sys.argv[2], in_memory=mode == "memory")
    report = index.refresh()
    seconds = time.perf_counter() - started
    index.close()
    print(json.dumps({"seconds": seconds, "parsed": report.parsed}))
