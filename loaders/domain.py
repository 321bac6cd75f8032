"""The service's domain word lists: configuration, with the original system's lists as defaults."""

from __future__ import annotations

import re

# Libraries the original tracked by name in code and errors.
TRACKED_LIBRARIES: tuple[str, ...] = (
    "matplotlib",
    "numpy",
    "scipy",
    "PIL",
    "skimage",
    "cv2",
    "pandas",
    "imageio",
    "MapsBridge",
)

BRIDGE_MODULE = "MapsBridge"

# (kind, keywords) checked in order on the lower-cased error text of a failure whose code uses the
# bridge module; the first kind with a keyword present wins, else "other".
BRIDGE_ISSUE_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stdin_parsing", ("stdin", "json")),
    ("request_type", ("requesttype", "tileset", "imagelayer")),
    ("channel", ("channel", "createchannel")),
    ("output", ("output", "sendsingletileoutput")),
)


# The original report's mapbridge_issues keys, by issue kind.
BRIDGE_REPORT_KEYS: tuple[tuple[str, str], ...] = (
    ("request_type_errors", "request_type"),
    ("stdin_parsing_errors", "stdin_parsing"),
    ("output_errors", "output"),
    ("channel_errors", "channel"),
    ("other_errors", "other"),
)


def bridge_issue_kind(code: str | None, error_message: str | None, stderr: str | None) -> str | None:
    """Classify a failure of bridge-using code as the original did; None when the code does not use it."""
    if not code or BRIDGE_MODULE not in code:
        return None
    text = f"{error_message or ''} {stderr or ''}".lower()
    for kind, pattern in _BRIDGE_PATTERNS:
        if pattern.search(text):
            return kind
    return "other"


_BRIDGE_PATTERNS = tuple(
    (kind, re.compile("|".join(re.escape(word) for word in words))) for kind, words in BRIDGE_ISSUE_KINDS
)
