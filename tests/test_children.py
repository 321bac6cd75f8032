"""The servers the CLI starts never outlive it, not even a SIGKILL of the CLI (issue 29, item 20)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_dashboard_command_takes_its_server_with_it(small_tree, cache_dir):
    cli = subprocess.Popen(
        [sys.executable, "analyze_logs.py", "--logs-dir", str(small_tree), "dashboard", "--port", str(free_port())],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _children(cli.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        servers = _children(cli.pid)
        assert servers, "the dashboard's server never started"
        time.sleep(1)  # past the child's start-up (its request to die with its parent is made before exec)
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in servers)
    finally:
        if cli.poll() is None:
            cli.kill()
        for pid in _children(cli.pid):
            os.kill(pid, signal.SIGKILL)
