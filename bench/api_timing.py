"""Times the REST API over HTTP: a real uvicorn on a free localhost port, warm, at 1, 8 and 32 requests in flight.

Usage: python -m bench.api_timing LOGS_DIR N [BUDGET_SECONDS]  (prints JSON)

Each endpoint is warmed up, then asked N times with one request in flight and 2N times with 8 and
with 32 in flight (one thread per request in flight, each with its own httpx.Client, each sending
its next request as soon as its last one is answered). A slow endpoint stops early: once
BUDGET_SECONDS (default 20) have passed no new request starts, but every thread sends at least
one; ``requests`` says how many were timed. The printed JSON keeps the serial figures
``summary_p50``, ``summary_p99``, ``session_p50``, ``session_p99`` (seconds, 1 in flight) and adds
``levels``: ``{"1": {"summary": {"p50", "p99", "rps", "requests"}, ...}, "8": ..., "32": ...}``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = (1, 8, 32)
DEFAULT_BUDGET_SECONDS = 20.0
WARM_UP_REQUESTS = 5
WARM_UP_SECONDS = 10.0
REQUEST_TIMEOUT = 300.0


def free_port() -> int:
    """A port nothing listens on, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of the samples."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@contextlib.contextmanager
def api_server(logs: str) -> Iterator[str]:
    """``analyze_logs.py serve`` on a free port until the block ends; yields the /api/logs base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", logs, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/logs"
        wait_until_up(f"{base}/summary", server)
        yield base
    finally:
        server.terminate()
        server.wait(30)


def wait_until_up(url: str, server: subprocess.Popen, limit: float = 300) -> None:
    """Return once ``url`` answers; raise if the server exits or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while True:
        try:
            httpx.get(url, timeout=REQUEST_TIMEOUT)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the API server did not start") from None
            time.sleep(0.5)


def endpoints(base: str) -> dict[str, str]:
    """The endpoints timed, by name (the session is the one of the newest failure)."""
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        failures = client.get(f"{base}/failures", params={"limit": 1}).raise_for_status().json()["failures"]
    return {
        "summary": f"{base}/summary",
        "session": f"{base}/session/{failures[0]['session_id']}",
        "failures": f"{base}/failures?limit=100",
        "analysis": f"{base}/analysis",
        "fingerprints": f"{base}/fingerprints",
    }


def warm_up(url: str) -> None:
    """A few requests to ``url`` (fewer if they are slow), untimed."""
    started = time.monotonic()
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        for _ in range(WARM_UP_REQUESTS):
            client.get(url).raise_for_status()
            if time.monotonic() - started > WARM_UP_SECONDS:
                return


def run_level(url: str, in_flight: int, count: int, budget: float) -> dict:
    """``count`` requests to ``url`` with ``in_flight`` of them at a time: p50, p99 (s), requests/s, requests."""
    tickets = itertools.count()  # next() on it is atomic: each ticket is one request
    latencies: list[float] = []
    deadline = time.perf_counter() + budget

    def sender() -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            while (ticket := next(tickets)) < count and (ticket < in_flight or time.perf_counter() < deadline):
                started = time.perf_counter()
                client.get(url).raise_for_status()
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        for future in [pool.submit(sender) for _ in range(in_flight)]:
            future.result()  # raises what a sender raised
    elapsed = time.perf_counter() - started
    p50, p99 = percentiles(latencies)
    return {"p50": p50, "p99": p99, "rps": len(latencies) / elapsed, "requests": len(latencies)}


def measure(logs: str, count: int, budget: float) -> dict:
    """Every endpoint at every level of requests in flight, on one warm server."""
    with api_server(logs) as base:
        urls = endpoints(base)
        for url in urls.values():
            warm_up(url)
        levels = {
            str(in_flight): {
                name: run_level(url, in_flight, count if in_flight == 1 else 2 * count, budget)
                for name, url in urls.items()
            }
            for in_flight in IN_FLIGHT
        }
    serial = levels["1"]
    figures = {f"{name}_{p}": serial[name][p] for name in ("summary", "session") for p in ("p50", "p99")}
    return figures | {"requests_at_1": count, "budget_seconds": budget, "levels": levels}


if __name__ == "__main__":
    budget_arg = float(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_BUDGET_SECONDS
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), budget_arg)))
