"""Posting one JSON document to a webhook (Slack, Teams, Discord or any HTTP receiver), standard library only.

A failure (refused connection, timeout, an answer other than 2xx) is retried after a delay that
doubles each time; what finally failed comes back as one line of text, never as an exception.
"""

from __future__ import annotations

import json
import time
from typing import Any

WEBHOOK_ENV = "FIXTRAIL_WEBHOOK_URL"
TIMEOUT_SECONDS = 10.0
RETRIES = 3
FIRST_DELAY_SECONDS = 1.0


def post_json(
    url: str,
    document: dict[str, Any],
    timeout: float = TIMEOUT_SECONDS,
    retries: int = RETRIES,
    first_delay: float = FIRST_DELAY_SECONDS,
) -> str | None:
    """POST ``document`` as JSON to ``url``; None when it was accepted, else why it failed (one line).

    Tries ``1 + retries`` times, waiting ``first_delay`` seconds after the first failure, twice as
    long after each next one.
    """
    import urllib.error  # here, not at the top: every CLI command imports this module for its defaults
    import urllib.request
    from urllib.parse import urlsplit

    if not url.lower().startswith(("http://", "https://")):
        return "the webhook URL must start with http:// or https://"
    body = json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(first_delay * 2 ** (attempt - 1))
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "fixtrail"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (scheme checked above)
                answer.read()
            return None
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            problem = str(reason).strip().splitlines()[0] if str(reason).strip() else type(exc).__name__
    # The host only: a webhook's path is often its secret.
    return f"webhook at {urlsplit(url).netloc} failed after {retries + 1} tries: {problem}"
