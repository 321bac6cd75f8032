"""The webhook against real receivers on loopback that misbehave (issue 29, items 9, 10, 12, 15).

Each receiver is a raw socket server of its own: redirects, a slow drip, a huge answer.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.webhook import ANSWER_MAX_BYTES, post_json, slack_text

ROOT = Path(__file__).resolve().parents[1]


class RawReceiver:
    """A one-thread HTTP receiver on 127.0.0.1 whose answer is written by ``answer(request_bytes, socket)``."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook/secret-path"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(body) < length:
                    body += connection.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                self.answer(head, connection, self)
            except OSError:
                pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def receiver_of() -> Iterator:
    made: list[RawReceiver] = []

    def make(answer) -> RawReceiver:
        made.append(RawReceiver(answer))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _status(code: int, reason: str, headers: str = "") -> bytes:
    return f"HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n{headers}\r\n".encode()


@pytest.mark.parametrize("code", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_a_failure_not_a_delivery(receiver_of, code):
    target = receiver_of(lambda head, conn, me: conn.sendall(_status(200, "OK")))
    redirecting = receiver_of(
        lambda head, conn, me: conn.sendall(_status(code, "Moved", f"Location: {target.url}\r\n"))
    )
    problem = post_json(redirecting.url, {"text": "alert"}, timeout=5, retries=0)
    assert problem is not None and f"HTTP {code}" in problem and "not followed" in problem
    assert target.requests == []  # never re-sent as a GET without its body


def test_a_307_keeps_the_method_and_the_body_and_is_followed(receiver_of):
    target = receiver_of(lambda head, conn, me: conn.sendall(_status(200, "OK")))
    redirecting = receiver_of(lambda head, conn, me: conn.sendall(_status(307, "Moved", f"Location: {target.url}\r\n")))
    assert post_json(redirecting.url, {"text": "alert"}, timeout=5, retries=0) is None
    assert target.requests[0].startswith(b"POST ") and target.requests[0].endswith(b'{"text": "alert"}')


def test_a_slow_drip_receiver_is_cut_off_at_the_deadline(receiver_of):
    def drip(head: bytes, conn: socket.socket, me: RawReceiver) -> None:
        for char in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100:
            if me.stopped.is_set():
                return
            conn.sendall(bytes([char]))
            time.sleep(0.5)

    slow = receiver_of(drip)
    started = time.monotonic()
    problem = post_json(slow.url, {"text": "alert"}, timeout=2, retries=1, first_delay=0.1)
    elapsed = time.monotonic() - started
    assert problem is not None and "no complete answer within 2 s" in problem
    assert elapsed < 15  # two tries of 2 s and a short wait, not minutes of dripping


def test_a_huge_answer_is_not_read_whole(receiver_of):
    def huge(head: bytes, conn: socket.socket, me: RawReceiver) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1500000000\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(200):  # 13 MB at most, then the receiver gives up
            conn.sendall(chunk)

    big = receiver_of(huge)
    assert post_json(big.url, {"text": "alert"}, timeout=10, retries=0) is None
    assert ANSWER_MAX_BYTES <= 1 << 20


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/a b", "http://127.0.0.1/a\r\nX-Injected: 1", "http://:80/", "http://h:port/"]
)
def test_a_malformed_url_is_one_line(url):
    problem = post_json(url, {"text": "x"}, timeout=1, retries=0)
    assert problem is not None and "\n" not in problem and problem.startswith("the webhook URL")


@pytest.mark.parametrize(
    ("option", "value"), [("--timeout", "inf"), ("--retry-delay", "inf"), ("--timeout", "nan"), ("--retries", "1e9")]
)
def test_numbers_that_are_not_numbers_of_seconds_are_usage_errors(tmp_path, option, value):
    done = subprocess.run(
        [
            sys.executable,
            "analyze_logs.py",
            "--logs-dir",
            str(tmp_path),
            "check",
            "--webhook",
            "http://127.0.0.1:9/",
            option,
            value,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and option in done.stderr


def test_slack_text_escapes_pings_and_disguised_links_and_is_cut():
    line = "KeyError: <!channel> <https://evil.example|Reset your password> & more"
    escaped = slack_text(line)
    assert "<" not in escaped and ">" not in escaped
    assert escaped == "KeyError: &lt;!channel&gt; &lt;https://evil.example|Reset your password&gt; &amp; more"
    long = slack_text("x" * 100_000)
    assert len(long) < 3100 and long.endswith("[cut: 100,000 characters in all]")


def test_check_posts_escaped_text(tmp_path, cache_dir, receiver_of):
    from tests.conftest import AS_OF, write_record

    bodies: list[bytes] = []

    def accept(head: bytes, conn: socket.socket, me: RawReceiver) -> None:
        bodies.append(me.requests[-1].partition(b"\r\n\r\n")[2])
        conn.sendall(_status(200, "OK"))

    hook = receiver_of(accept)
    logs = tmp_path / "logs"
    write_record(logs, error_message="boom", stderr="KeyError: <!channel> <https://evil.example|Reset>\n")
    done = subprocess.run(
        [
            sys.executable,
            "analyze_logs.py",
            "--logs-dir",
            str(logs),
            "--as-of",
            AS_OF.isoformat(),
            "check",
            "--webhook",
            hook.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    import json

    posted = json.loads(bodies[0])
    assert "&lt;!channel&gt;" in posted["text"] and "<!channel>" not in posted["text"]
