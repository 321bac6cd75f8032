"""check: new and regressed errors and significant rate drops, posted once to a webhook (a local
HTTP server), remembered in the cache directory, failures of the webhook said in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli.webhook import post_json
from loaders.analysis.alerts import find_alerts, memory_path
from tests.conftest import AS_OF, write_record, write_sessions
from tests.ports import free_port
from tests.test_cli import ROOT


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps what it was sent and answers ``status``."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"body": json.loads(body), "type": self.headers["Content-Type"]})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _alert_tree(root: Path) -> Path:
    """A NameError seen 20 days ago and fixed, back 3 hours before AS_OF (regressed); a KeyError first
    seen 2 hours before AS_OF (new)."""
    old = AS_OF - timedelta(days=20)
    write_record(root, log_id="old-f", session_id="OLD", when=old)
    write_record(root, log_id="old-s", session_id="OLD", status="success", when=old + timedelta(minutes=1))
    write_record(root, log_id="back", session_id="BACK", when=AS_OF - timedelta(hours=3))
    write_record(
        root,
        log_id="new",
        session_id="NEW",
        when=AS_OF - timedelta(hours=2),
        error_type="KeyError",
        error_message="Script exited with code 1. Error: User code error: KeyError: 'band'",
        stderr="Traceback (most recent call last):\nKeyError: 'band'\n",
    )
    return root


def test_new_and_regressed_fingerprints(tmp_path, index_of):
    index = index_of(_alert_tree(tmp_path / "logs"))
    found = {alert["kind"]: alert for alert in find_alerts(index, AS_OF, window_hours=24)}
    assert set(found) == {"new_fingerprint", "regressed_fingerprint"}
    assert found["new_fingerprint"]["error_line"] == "KeyError: 'band'"
    assert found["new_fingerprint"]["counts"]["failures_in_window"] == 1
    assert found["new_fingerprint"]["link"] == f"/errors?error={found['new_fingerprint']['fingerprint']}"
    assert found["regressed_fingerprint"]["error_line"] == "NameError: name 'x' is not defined"
    assert found["regressed_fingerprint"]["counts"] == {
        "failures_in_window": 1,
        "sessions_in_window": 1,
        "failures": 2,
        "unfixed": 1,
    }
    assert find_alerts(index, AS_OF, window_hours=1) == []  # both happened more than an hour before
    # ... but a check that last ran 5 hours ago looks back to then
    since_last = find_alerts(index, AS_OF, window_hours=1, since=AS_OF - timedelta(hours=5))
    assert sorted(alert["kind"] for alert in since_last) == ["new_fingerprint", "regressed_fingerprint"]
    assert since_last[0]["text"].endswith(f"(1 failure since {AS_OF - timedelta(hours=5):%Y-%m-%d %H:%M})")


def test_a_significant_drop_of_the_rates(tmp_path, index_of):
    logs = tmp_path / "logs"
    # the 7 days before: 60 sessions, 54 at first try; the last 7 days: 60 sessions, 18 at first try
    write_sessions(logs, "m", 60, 54, AS_OF - timedelta(days=13), prefix="before", spacing=timedelta(hours=2))
    write_sessions(logs, "m", 60, 18, AS_OF - timedelta(days=6), prefix="after", spacing=timedelta(hours=2))
    found = {alert["kind"]: alert for alert in find_alerts(index_of(logs), AS_OF, window_hours=1)}
    assert set(found) == {"first_try_drop", "success_rate_drop"}
    drop = found["first_try_drop"]["counts"]
    assert (drop["a"], drop["b"], drop["n_a"], drop["n_b"], drop["significant"]) == (90.0, 30.0, 60, 60, True)
    assert found["first_try_drop"]["text"].startswith("7-day first-try success rate fell from 90 % to 30 % (-60 points")


def _check(logs: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), "--as-of", AS_OF.isoformat()]
    return subprocess.run(
        [*command, "check", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _tree_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_check_posts_once_then_stays_quiet(tmp_path, cache_dir, receiver):
    logs = _alert_tree(tmp_path / "logs")
    files = _tree_files(logs)
    first = _check(logs, "--webhook", receiver.url)
    assert first.returncode == 1, first.stderr
    assert len(receiver.posts) == 1 and receiver.posts[0]["type"] == "application/json"
    document = receiver.posts[0]["body"]
    assert document["text"].startswith("Fixtrail: 2 new alerts")
    assert "KeyError: 'band'" in document["text"]
    assert sorted(alert["kind"] for alert in document["alerts"]) == ["new_fingerprint", "regressed_fingerprint"]
    for alert in document["alerts"]:
        assert {"kind", "fingerprint", "error_line", "counts", "link"} <= set(alert)
    assert "New error: KeyError: 'band'" in first.stdout
    second = _check(logs, "--webhook", receiver.url)
    assert (second.returncode, len(receiver.posts)) == (0, 1)
    assert second.stdout.strip() == "Fixtrail: nothing new since the last check."
    # what was reported is kept beside the index, never in the log tree
    assert _tree_files(logs) == files
    assert [p.name for p in cache_dir.glob("*.alerts.json")] and not list(logs.rglob("*.alerts.json"))


def test_the_webhook_url_from_the_environment_and_json_output(tmp_path, cache_dir, receiver):
    logs = _alert_tree(tmp_path / "logs")
    result = _check(logs, "--json", env={"FIXTRAIL_WEBHOOK_URL": receiver.url})
    assert result.returncode == 1
    assert json.loads(result.stdout) == receiver.posts[0]["body"]


def test_a_failing_webhook_is_retried_said_in_one_line_and_not_forgotten(tmp_path, cache_dir):
    logs = _alert_tree(tmp_path / "logs")
    failing = Receiver(status=500)
    try:
        started = time.monotonic()
        result = _check(logs, "--webhook", failing.url, "--retries", "2", "--retry-delay", "0.01")
        assert result.returncode == 1
        assert len(failing.posts) == 3  # the first try and two retries
        assert result.stderr.strip().splitlines() == [
            f"error: webhook at 127.0.0.1:{failing.server.server_address[1]} failed after 3 tries: "
            "HTTP 500 Internal Server Error"
        ]
        assert "secret" not in result.stderr and time.monotonic() - started < 60
        failing.status = 200
        again = _check(logs, "--webhook", failing.url, "--retry-delay", "0.01")
        assert again.returncode == 1 and len(failing.posts) == 4  # not remembered as reported: sent now
    finally:
        failing.server.shutdown()
        failing.server.server_close()


def test_an_unreachable_webhook_is_one_line():
    port = free_port()  # nobody listens on it
    problem = post_json(f"http://127.0.0.1:{port}/hook", {"text": "x"}, timeout=1, retries=1, first_delay=0.01)
    assert problem is not None and problem.startswith(f"webhook at 127.0.0.1:{port} failed after 2 tries: ")
    assert "\n" not in problem
    assert post_json("file:///etc/passwd", {}) == "the webhook URL must start with http:// or https://"


def test_memory_lives_beside_the_index(tmp_path, index_of):
    index = index_of(_alert_tree(tmp_path / "logs"))
    assert memory_path(index).parent == index.cache_dir
    assert memory_path(index).name.endswith(".alerts.json")
