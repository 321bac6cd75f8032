"""Posting one JSON document to a webhook (Slack, Teams, Discord or any HTTP receiver), standard library only
(and loaders.core.deadline, which is too).

Each try has one overall deadline (``timeout``) for connecting, sending and the whole answer: a
receiver that drips a byte at a time is cut off when it passes, not when one read waits too long.
The answer is read up to ANSWER_MAX_BYTES and dropped. Only a 2xx answer counts as delivered. A
redirect is followed only when it keeps the method and the body (307, 308; at most MAX_REDIRECTS):
a 301, 302 or 303 would turn the alert into a GET without its body, so it is a failure that names
where it pointed. A failure is retried after a delay that doubles each time, at most
MAX_DELAY_SECONDS; what finally failed comes back as one line of text, never as an exception.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from typing import Any

from loaders.text.secrets import mask_secrets, mask_text

WEBHOOK_ENV = "FIXTRAIL_WEBHOOK_URL"
TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0
RETRIES = 3
MAX_RETRIES = 10
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0
ANSWER_MAX_BYTES = 64 << 10
MAX_REDIRECTS = 3


class WebhookError(Exception):
    """One try failed; the message says why in a line."""


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (None when it can): http(s) only, no blanks or control characters."""
    from urllib.parse import urlsplit

    if not url.lower().startswith(("http://", "https://")):
        return "the webhook URL must start with http:// or https://"
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        return "the webhook URL holds a blank or a control character"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        return f"the webhook URL is not valid: {exc}"
    if not parts.hostname:
        return "the webhook URL names no host"
    return None


def post_json(
    url: str,
    document: dict[str, Any],
    timeout: float = TIMEOUT_SECONDS,
    retries: int = RETRIES,
    first_delay: float = FIRST_DELAY_SECONDS,
) -> str | None:
    """POST ``document`` as JSON to ``url``; None when it was accepted, else why it failed (one line).

    Tries ``1 + retries`` times, each within ``timeout`` seconds in all, waiting ``first_delay``
    seconds after the first failure and twice as long after each next one (at most MAX_DELAY_SECONDS).
    """
    from urllib.parse import urlsplit

    problem = check_url(url)
    if problem:
        return problem
    if not (math.isfinite(timeout) and timeout > 0):
        return "the webhook timeout must be a number of seconds above 0"
    timeout = min(timeout, MAX_TIMEOUT_SECONDS)
    delay = min(first_delay, MAX_DELAY_SECONDS) if math.isfinite(first_delay) and first_delay > 0 else 0.0
    body = json.dumps(mask_secrets(document), ensure_ascii=False, default=str).encode("utf-8")
    for attempt in range(min(retries, MAX_RETRIES) + 1):
        if attempt:
            time.sleep(min(delay * 2 ** (attempt - 1), MAX_DELAY_SECONDS))
        try:
            _post_within(url, body, timeout)
            return None
        except WebhookError as exc:
            problem = str(exc)
    # The host only: a webhook's path is often its secret.
    return f"webhook at {urlsplit(url).netloc} failed after {min(retries, MAX_RETRIES) + 1} tries: {problem}"


def _post_within(url: str, body: bytes, timeout: float) -> None:
    """One try, abandoned when ``timeout`` seconds have passed whatever the receiver does; raises WebhookError."""
    from loaders.core.deadline import DeadlineExceeded, within_deadline

    connections: list[Any] = []
    cancelled = threading.Event()  # the try's thread sends nothing once its caller has given up

    def cut_off() -> None:
        cancelled.set()
        for connection in connections:
            _abort(connection)

    try:
        within_deadline(lambda: _post(url, body, timeout, connections, cancelled), timeout, "the try", cut_off)
    except DeadlineExceeded:
        raise WebhookError(f"no complete answer within {timeout:g} s") from None
    except WebhookError:
        raise
    except Exception as exc:  # refused, reset, TLS, DNS: one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WebhookError(reason) from None


def _abort(connection: Any) -> None:
    """Cut a connection whose try ran out of time (its thread, blocked in a read, then ends)."""
    import socket

    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    connection.close()


def _post(url: str, body: bytes, timeout: float, connections: list[Any], cancelled: threading.Event) -> None:
    import http.client
    from urllib.parse import urljoin, urlsplit

    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        kind = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname, parts.port, timeout=timeout)
        connections.append(connection)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json", "User-Agent": "fixtrail", "Content-Length": str(len(body))}
        try:
            connection.connect()
            if cancelled.is_set():  # the deadline passed while connecting: the alert is not sent late
                raise WebhookError("given up before sending")
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(ANSWER_MAX_BYTES)  # the rest is never read: the connection is closed
            status, reason, location = answer.status, answer.reason, answer.getheader("Location")
        finally:
            connection.close()
        if 200 <= status < 300:
            return
        if status in (307, 308) and location:
            url = urljoin(url, location)
            if check_url(url):
                raise WebhookError(f"HTTP {status}: redirected to an address that is not a webhook URL")
            continue
        if 300 <= status < 400:
            where = urlsplit(urljoin(url, location)).netloc if location else "nowhere"
            raise WebhookError(
                f"HTTP {status} {reason}: a redirect (to {where}) that would drop the alert; not followed"
            )
        raise WebhookError(f"HTTP {status} {reason}")
    raise WebhookError(f"more than {MAX_REDIRECTS} redirects")


SLACK_TEXT_MAX_CHARS = 3000


def slack_text(text: str, limit: int = SLACK_TEXT_MAX_CHARS) -> str:
    """``text`` as Slack's ``text`` field shows it literally: ``&``, ``<`` and ``>`` escaped (so that log text
    can neither ping ``<!channel>`` nor disguise a link as ``<https://evil|Reset your password>``), cut to
    ``limit`` characters."""
    text = mask_text(text)  # before cutting and escaping: either would hide a secret from the rules
    if len(text) > limit:
        text = text[: limit - 40].rstrip() + f"\n... [cut: {len(text):,} characters in all]"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
