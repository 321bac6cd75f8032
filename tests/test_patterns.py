"""Every pattern run over log text takes time in proportion to its input (issue 29, item 4).

Each registered pattern (``loaders.text.patterns.LOG_TEXT_PATTERNS``, plus the writer's own, which
stands alone on the standard library) is run in a child process over adversarial texts built from
its own characters: runs of one character (1 MB) and of every pair (128 KB), each followed by
a character that makes the match fail, and the attacks seen in the wild. The child has a generous
deadline: a linear pattern needs a few seconds for all of them, a backtracking one hours.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import dashboard.links  # registers its patterns
import dashboard.markdown  # noqa: F401  (registers its patterns)
import loaders.outputs.exports
import loaders.text.code_text
import loaders.text.error_text
from loaders.text.patterns import LOG_TEXT_PATTERNS

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 120
WRITER_PATTERNS = ["ERROR_TYPE_PATTERN"]

# The child: rebuilds the pattern from its module, then runs search, finditer and match over
# every adversarial text. Printing the text's description first names the one that hangs.
CHILD = r"""
import itertools, re, sys
name, size_big, size_pairs, bound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if name.startswith("writer:"):
    from backend import script_logger
    pattern = getattr(script_logger, name.removeprefix("writer:"))
else:
    import dashboard.links, dashboard.markdown, loaders.text.code_text, loaders.text.error_text, loaders.outputs.exports
    from loaders.text.patterns import LOG_TEXT_PATTERNS
    pattern = next(p.pattern for p in LOG_TEXT_PATTERNS if p.name == name)
if bound != "None":
    size_big = size_pairs = int(bound)
source = pattern.pattern
# Word, digit, blank, line end, dot, then up to six characters the pattern names itself.
own = sorted({c for c in source if c.isprintable() and c not in "\\()[]{}?*+|^$ .a1"})
chars = ["a", "1", " ", "\n", ".", *own[:6]]
WILD = ['File "x"\n' + "\n" * (size_big // 2) + "x", 'File "x\n' * (size_big // 9), "[" + " " * size_big]
def texts():
    for text in WILD:
        yield "wild", text
    for c in chars:
        yield repr(c), c * size_big + "\x00"
    for a, b in itertools.product(chars, repeat=2):
        yield repr(a + b), (a + b) * (size_pairs // 2) + "\x00"
for label, text in texts():
    print(label, flush=True)
    pattern.search(text)
    for _ in pattern.finditer(text):
        pass
    pattern.match(text)
print("done", flush=True)
"""


def _names() -> list[str]:
    return [p.name for p in LOG_TEXT_PATTERNS] + [f"writer:{name}" for name in WRITER_PATTERNS]


def _bound(name: str) -> int | None:
    return next((p.bound for p in LOG_TEXT_PATTERNS if p.name == name), None)


def test_every_pattern_over_log_text_is_registered():
    """A ``re.compile`` over log text outside the registry would escape the linear-time check."""
    allowed = {
        "loaders/text/patterns.py",
        "loaders/ingest/sources/s3.py",
        "loaders/analysis/attempts.py",
        "backend/script_logger.py",
    }
    found = []
    for folder in ("loaders", "dashboard", "api", "cli", "backend"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in allowed or "/demo" in relative:
                continue
            text = path.read_text(encoding="utf-8")
            found += [relative for line in text.splitlines() if re.search(r"\bre\.compile\(", line)]
    # error_text's per-library word pattern is a literal between one-character look-arounds.
    assert found == ["loaders/text/error_text.py"], found
    assert len(LOG_TEXT_PATTERNS) >= 20


@pytest.mark.parametrize("name", _names())
def test_a_pattern_is_linear_on_adversarial_text(name):
    bound = _bound(name)
    command = [sys.executable, "-c", CHILD, name, str(1 << 20), str(1 << 17), str(bound)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    except subprocess.TimeoutExpired as exc:
        lines = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        last = lines.strip().splitlines()[-1:] or ["(before the first text)"]
        pytest.fail(f"{name} still running after {DEADLINE_SECONDS} s on the text {last[0]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("done")


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (
            loaders.text.error_text._FRAME_FILE,
            '  File "/x/site-packages/cv2/a.py", line 1\n',
            ["/x/site-packages/cv2/a.py"],
        ),
        (loaders.text.error_text._ERROR_TYPE, "x ValueError: bad; KeyError: 0", ["ValueError", "KeyError"]),
    ],
)
def test_the_rewritten_patterns_still_find_what_they_found(pattern, text, expected):
    assert [m.group(1) for m in pattern.finditer(text)] == expected


@pytest.mark.parametrize(
    ("text", "plain"),
    [("-12.5e3", True), ("12.", True), (".5", True), ("+3", True), ("1e", False), (".", False), ("=1+2", False)],
)
def test_a_plain_number_is_what_it_was(text, plain):
    assert (loaders.outputs.exports._PLAIN_NUMBER.fullmatch(text) is not None) is plain
