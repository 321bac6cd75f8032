"""analyze_logs.py: the original's commands and look, --json, exit codes, pipes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loaders.demo import generate_tree
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "analyze_logs.py"), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_summary_text_keeps_the_original_labels(small_tree, cache_dir):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "summary")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "=" * 70 in lines and f"{'SCRIPT EXECUTION SUMMARY':^70}" in lines
    assert "Total Failures:            4" in lines
    assert "Unfixed Failures:          1" in lines
    assert "Overall Success Rate:  42.9%" in lines
    assert "Recent Success (7d):   50.0%" in lines
    assert "Recent Attempts (7d):      4" in lines


def test_summary_json(small_tree, cache_dir):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "--json", "summary")
    data = json.loads(result.stdout)
    assert (data["total_failures"], data["fixed_failures"], data["sessions"], data["skipped_files"]) == (4, 3, 4, 0)
    assert data["recent_success_rate_7d"] == 50.0


@pytest.mark.parametrize("command", ["errors", "recommendations", "unfixed", "all", "context"])
def test_commands_run(small_tree, cache_dir, command):
    result = run_cli("--logs-dir", str(small_tree), command)
    assert result.returncode == 0, result.stderr
    assert "=" * 70 in result.stdout


def test_session_history(small_tree, cache_dir):
    result = run_cli("--logs-dir", str(small_tree), "session", "S1")
    assert "Attempts: 3" in result.stdout
    assert "3. OK SUCCESS" in result.stdout and "1. NO FAILED" in result.stdout


def test_export_writes_the_report(small_tree, cache_dir, tmp_path):
    target = tmp_path / "out.json"
    result = run_cli("--logs-dir", str(small_tree), "export", str(target))
    assert result.returncode == 0
    assert json.loads(target.read_text())["summary"]["total_failures"] == 4


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--logs-dir", "/no/such/dir", "summary"], 1, "error: log directory not found"),
        (["session", "nope"], 1, "error: session not found: nope"),
        (["bogus"], 2, "invalid choice"),
        (["--as-of", "yesterday", "summary"], 2, "not an ISO 8601 time"),
    ],
)
def test_exit_codes(small_tree, cache_dir, args, code, message):
    if args[0] != "--logs-dir":
        args = ["--logs-dir", str(small_tree), *args]
    result = run_cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_pipe_into_head_does_not_raise(tmp_path, cache_dir):
    root = tmp_path / "logs"
    generate_tree(root, sessions=800, days=10, seed=3)  # its unfixed list is far larger than a pipe's buffer
    pipeline = subprocess.run(
        f"{sys.executable} {ROOT / 'analyze_logs.py'} --logs-dir {root} --json unfixed | head -3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(pipeline.stdout.splitlines()) == 3
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr


def test_dashboard_command_serves_the_tree(small_tree, cache_dir):
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "analyze_logs.py"),
            "--logs-dir",
            str(small_tree),
            "dashboard",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the dashboard did not start"
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(20)
