"""Times the REST API over HTTP: a real uvicorn on a free localhost port, N requests per endpoint, warm.

Usage: python -m bench.api_timing LOGS_DIR N  (prints JSON: p50 and p99 in seconds per endpoint)
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nothing listens on, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of the samples."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


if __name__ == "__main__":
    logs, count = sys.argv[1], int(sys.argv[2])
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", logs, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/logs"
    try:
        with httpx.Client(timeout=120) as client:
            deadline = time.monotonic() + 300
            while True:
                try:
                    client.get(f"{base}/summary")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            session_id = client.get(f"{base}/failures", params={"limit": 1}).json()["failures"][0]["session_id"]
            figures = {}
            for name, url in (("summary", f"{base}/summary"), ("session", f"{base}/session/{session_id}")):
                for _ in range(5):
                    client.get(url)
                samples = []
                for _ in range(count):
                    started = time.perf_counter()
                    client.get(url).raise_for_status()
                    samples.append(time.perf_counter() - started)
                figures[f"{name}_p50"], figures[f"{name}_p99"] = percentiles(samples)
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(figures))
