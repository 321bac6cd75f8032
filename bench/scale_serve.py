"""The dashboard and the API on a big tree's index built before (the scale bench's serving figures).

Usage: python -m bench.scale_serve LOGS_DIR RUNS  (FIXTRAIL_CACHE_DIR: the index's directory; prints JSON)

The dashboard is started as ``make run`` starts it and timed until it says it has warmed up (its
copy of the index made, every page's results worked out). Each page is then drawn in Chromium once
(the first visit) and RUNS times more (the repeat visit: the median). The server's resident memory
is read after the warm-up and at the end (VmRSS), with its peak (VmHWM). The API is then started on
the same index and timed with bench.api_timing: ``/summary`` at 8 requests in flight, and the p99 of
every route at 1 in flight.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from bench import api_timing
from bench.browser_timing import PAGES, browser_page, dashboard, leave, memory_mib, visit

API_REQUESTS = 200
API_BUDGET_SECONDS = 10.0
LIST_ROUTES = ("session", "failures", "analysis", "fingerprints")


def dashboard_figures(logs: str, runs: int) -> dict[str, Any]:
    """Warm-up seconds, each page's first and repeat visit (seconds), the server's memory (MiB)."""
    from playwright.sync_api import sync_playwright

    port = api_timing.free_port()
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser, page = browser_page(playwright)
        started = time.perf_counter()
        with dashboard(logs, port) as server:
            warm_up = time.perf_counter() - started
            after_warm_up = memory_mib(server.pid)
            first = {spec[0]: visit(page, base, spec)[0] for spec in PAGES}
            repeat = {spec[0]: statistics.median(visit(page, base, spec)[0] for _ in range(runs)) for spec in PAGES}
            leave(page)
            time.sleep(1)
            at_end = memory_mib(server.pid)
        browser.close()
    return {
        "warm_up": warm_up,
        "first": first,
        "repeat": repeat,
        "first_max": max(first.values()),
        "repeat_max": max(repeat.values()),
        "steady_mib": max(after_warm_up["steady"], at_end["steady"]),
        "peak_mib": at_end["peak"],
    }


def api_figures(logs: str) -> dict[str, Any]:
    """``/summary`` requests a second at 8 in flight, and the slowest list route's p99 at 1 in flight."""
    measured = api_timing.measure(logs, API_REQUESTS, API_BUDGET_SECONDS)
    serial, eight = measured["levels"]["1"], measured["levels"]["8"]
    return {
        "summary_rps": eight["summary"]["rps"],
        "list_p99": max(serial[route]["p99"] for route in LIST_ROUTES),
        "p99": {route: serial[route]["p99"] for route in LIST_ROUTES},
    }


if __name__ == "__main__":
    logs_dir, visits = sys.argv[1], int(sys.argv[2])
    print(json.dumps({**dashboard_figures(logs_dir, visits), **api_figures(logs_dir)}))
