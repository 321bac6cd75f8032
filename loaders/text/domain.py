"""The service's domain word lists: configuration, with the original system's lists as defaults.

``$FIXTRAIL_DOMAIN`` may name a JSON file that overrides any of:
``{"tracked_libraries": ["numpy", ...], "bridge_module": "MapsBridge",
"bridge_issue_kinds": [["stdin_parsing", ["stdin", "json"]], ...]}``.
``tracked_libraries`` limits the library issues to those libraries (default: every third-party
library the code imports, which includes the original's list). The bridge settings decide what a
bridge error is and of which kind; they are applied while files are indexed, so the index is
rebuilt when they change (``Domain.digest``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field

from loaders.core.files import StateFileError, read_state_json

DOMAIN_ENV = "FIXTRAIL_DOMAIN"

# The libraries the original tracked by name in code and errors.
ORIGINAL_LIBRARIES: tuple[str, ...] = (
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

# (kind, keywords) checked in order on the lower-cased error text of a failure whose code uses the
# bridge module; the first kind with a keyword present wins, else "other". The original's lists.
ORIGINAL_BRIDGE_ISSUE_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
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


class DomainConfigError(ValueError):
    """The file named by $FIXTRAIL_DOMAIN cannot be used; the message says why."""


@dataclass(frozen=True)
class Domain:
    """The word lists in force."""

    tracked_libraries: tuple[str, ...] | None = None
    bridge_module: str = "MapsBridge"
    bridge_issue_kinds: tuple[tuple[str, tuple[str, ...]], ...] = ORIGINAL_BRIDGE_ISSUE_KINDS
    _lowered_kinds: tuple = field(default=(), compare=False, repr=False)

    @property
    def digest(self) -> str:
        """Changes when a setting that indexing applies changes."""
        key = json.dumps([self.bridge_module, self.bridge_issue_kinds])
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def bridge_issue_kind(self, code: str | None, error_message: str | None, stderr: str | None) -> str | None:
        """Classify a failure of bridge-using code as the original did; None when the code does not use it."""
        if not code or self.bridge_module not in code:
            return None
        text = f"{error_message or ''} {stderr or ''}".lower()
        for kind, words in self._lowered_kinds:  # plain substring tests: a third of a regex's cost
            for word in words:
                if word in text:
                    return kind
        return "other"


def _prepared(domain: Domain) -> Domain:
    lowered = tuple((kind, tuple(word.lower() for word in words)) for kind, words in domain.bridge_issue_kinds)
    object.__setattr__(domain, "_lowered_kinds", lowered)
    return domain


@functools.cache
def current_domain() -> Domain:
    """The domain in force: the defaults, overridden by the file named by $FIXTRAIL_DOMAIN."""
    path = os.environ.get(DOMAIN_ENV)
    if not path:
        return _prepared(Domain())
    try:
        data = read_state_json(path)
        if data is None:
            raise StateFileError(f"{path}: no such file")
        libraries = data.get("tracked_libraries")
        kinds = data.get("bridge_issue_kinds")
        domain = Domain(
            tracked_libraries=tuple(str(lib) for lib in libraries) if libraries is not None else None,
            bridge_module=str(data.get("bridge_module", "MapsBridge")),
            bridge_issue_kinds=(
                tuple((str(kind), tuple(str(w) for w in words)) for kind, words in kinds)
                if kinds is not None
                else ORIGINAL_BRIDGE_ISSUE_KINDS
            ),
        )
    except (StateFileError, ValueError, TypeError, AttributeError) as exc:
        raise DomainConfigError(f"{DOMAIN_ENV}={path}: {exc}") from exc
    return _prepared(domain)


def bridge_issue_kind(code: str | None, error_message: str | None, stderr: str | None) -> str | None:
    """Classify a failure of bridge-using code with the domain in force (see Domain.bridge_issue_kind)."""
    return current_domain().bridge_issue_kind(code, error_message, stderr)
