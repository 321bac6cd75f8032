"""Times the dashboard's script runs with Streamlit's AppTest, warm (after one run of each page).

Usage: python -m bench.dashboard_timing LOGS_DIR RUNS  (prints JSON: overview, session seconds, medians)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py")


def page_seconds(page: str, runs: int, session_id: str | None = None) -> float:
    """Median seconds of one warm run of ``page`` (a first run warms the caches)."""
    times = []
    for attempt in range(runs + 1):
        app = AppTest.from_file(APP, default_timeout=300)
        if session_id:
            app.query_params["session"] = session_id
        app.switch_page(page)
        started = time.perf_counter()
        app.run()
        if app.exception:
            raise RuntimeError(app.exception[0].message)
        if attempt:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    os.environ["FIXTRAIL_LOGS_DIR"] = sys.argv[1]
    runs = int(sys.argv[2])
    from loaders.analysis.sessions import sessions
    from loaders.store.index import open_index

    with open_index(sys.argv[1], in_memory=False) as index:
        longest = sessions(index).sort_values("attempts", ascending=False)["session_id"].iloc[0]
    print(
        json.dumps(
            {
                "overview": page_seconds("app_pages/overview.py", runs),
                "session": page_seconds("app_pages/sessions.py", runs, longest),
            }
        )
    )
