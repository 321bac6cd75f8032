"""`analyze_logs.py serve` in a real uvicorn: the Host check (DNS rebinding) and stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from filelock import FileLock

from api.hosts import ALLOWED_HOSTS_ENV, allowed_hosts, host_name
from loaders.store.cache import index_path_for
from tests.conftest import AS_OF
from tests.ports import free_port, port_is_free

ROOT = Path(__file__).resolve().parents[1]


def _serve(logs: Path, port: int, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(logs), "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or os.environ.copy()
    )


def _wait_until_listening(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.2)


TOKEN: dict[str, str] = {}  # the bearer token of a test whose server answers to public names


def _get(port: int, host: str, path: str = "/api/logs/summary", **params: str) -> httpx.Response:
    headers = {"Host": host, **({"Authorization": f"Bearer {TOKEN['secret']}"} if TOKEN else {})}
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, params=params, timeout=60)


def test_answering_to_a_public_name_needs_tokens_even_on_loopback(small_tree, cache_dir):
    """Behind a reverse proxy the server listens on loopback but is reached from elsewhere."""
    command = [sys.executable, str(ROOT / "analyze_logs.py"), "--logs-dir", str(small_tree), "serve"]
    refused = subprocess.run(
        [*command, "--port", str(free_port()), "--allowed-host", "logs.example.com"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "answering to logs.example.com" in refused.stderr and "without tokens" in refused.stderr


def test_the_server_answers_only_the_host_names_it_serves(small_tree, cache_dir, monkeypatch):
    from api.tokens import create_token

    monkeypatch.setitem(TOKEN, "secret", create_token("hosts-test"))  # public names: tokens are required
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != ALLOWED_HOSTS_ENV}
    server = _serve(
        small_tree, port, "--allowed-host", "logs.internal", env=env | {ALLOWED_HOSTS_ENV: "a.example, B.Example"}
    )
    try:
        _wait_until_listening(server, port)
        ok = _get(port, f"127.0.0.1:{port}", as_of=AS_OF.isoformat())
        assert ok.status_code == 200 and ok.json()["summary"]["total_failures"] == 4
        for host in (f"localhost:{port}", f"[::1]:{port}", "logs.internal", f"a.example:{port}", "b.example"):
            assert _get(port, host).status_code == 200, host
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "user@localhost", "localhost:x"):
            refused = _get(port, host)
            assert refused.status_code == 400, host
            assert refused.json() == {
                "success": False,
                "error": "invalid Host header: this server does not answer to that name",
            }
        assert _get(port, "evil.example", "/openapi.json").status_code == 400
        outside = _get(port, f"127.0.0.1:{port}", end="9999-12-31")  # a date out of range: an answer, not a reset
        assert outside.status_code == 422 and outside.json()["success"] is False
    finally:
        server.terminate()
        server.wait(20)


def test_serve_stops_on_sigterm_and_frees_its_port(small_tree, cache_dir):
    port = free_port()
    server = _serve(small_tree, port)
    try:
        _wait_until_listening(server, port)
        assert _get(port, f"127.0.0.1:{port}").status_code == 200
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then ends by the signal it was sent (as the shell reports it).
        assert server.wait(20) in (0, -signal.SIGTERM)
        assert port_is_free(port)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(20)


def test_serve_stops_on_sigterm_while_a_first_load_waits_on_a_busy_index(small_tree, cache_dir):
    """A request blocked on the index's lock (held by another process) does not hold up the shutdown."""
    cache_dir.mkdir(parents=True)
    lock = FileLock(str(index_path_for(small_tree.resolve(), cache_dir.resolve())) + ".lock")
    port = free_port()
    server = _serve(small_tree, port)
    answers: list[object] = []
    try:
        with lock:
            _wait_until_listening(server, port)
            request = threading.Thread(
                target=lambda: answers.append(_try_get(port)),
                daemon=True,
            )
            request.start()
            time.sleep(1)  # the request is now waiting for the lock
            server.send_signal(signal.SIGTERM)
            started = time.monotonic()
            server.wait(30)
            assert time.monotonic() - started < 15
            request.join(10)
        assert port_is_free(port)
        assert answers, "the waiting request was answered or cut, not left hanging"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(20)


def _try_get(port: int) -> object:
    try:
        return _get(port, f"127.0.0.1:{port}").status_code
    except httpx.TransportError as exc:
        return exc


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("localhost", "localhost"),
        ("LOCALHOST:8000", "localhost"),
        ("[::1]:8000", "::1"),
        ("::1", None),  # an IPv6 address in Host is bracketed
        ("example.com.", "example.com"),
        ("a@example.com", None),
        ("example.com/x", None),
        ("example.com:99999", None),
        ("", None),
    ],
)
def test_host_names(value, name):
    assert host_name(value) == name


def test_allowed_hosts_add_the_bound_address_and_the_configured_names(monkeypatch):
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, " logs.internal ,,[::2]")
    assert allowed_hosts("10.0.0.5", ["Extra.Example"]) == (
        "localhost",
        "127.0.0.1",
        "::1",
        "10.0.0.5",
        "logs.internal",
        "::2",
        "extra.example",
    )
    monkeypatch.delenv(ALLOWED_HOSTS_ENV)
    assert allowed_hosts("0.0.0.0") == ("localhost", "127.0.0.1", "::1")
