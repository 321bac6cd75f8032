"""Reading meaning out of error texts: key error line, fingerprint, category.

These run once per file while the index is built (the big texts are at hand then and never
again), so every derived value here is stored as a slim column.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

from loaders.text.patterns import log_pattern
from loaders.text.secrets import clip

KEY_LINE_MAX = 200
SECRET_MARGIN = 4096  # characters past the cut read for a secret that runs across it

# Anchored at the start of the text (matched one line at a time): one scan per line.
_EXCEPTION_LINE = log_pattern(
    "error_text._EXCEPTION_LINE", r"^\s*([\w.]+(?:Error|Exception|Exit|Interrupt|Warning)|[\w.]*Error)\b\s*:"
)
# Starts at a word boundary: without it, a search restarts the word's scan at each of its letters.
_ERROR_TYPE = log_pattern("error_text._ERROR_TYPE", r"\b(\w+Error|\w+Exception):")
_SCRIPT_PREFIX = log_pattern(
    "error_text._SCRIPT_PREFIX", r"^Script exited with code -?\d+\.\s*(?:Error:\s*)?(?:User code error:\s*)?", re.I
)

# Masks applied, in order, to turn a key error line into a stable signature (Sentry's
# parameterisation is the model): URLs, e-mail addresses, UUIDs, ISO dates and times, IP addresses,
# hex addresses and ids, paths, quoted values, line numbers, numbers. Quoted Python names ('cv2',
# 'GetChannels', 'np.float64') are the mistake itself and stay; quoted file names and ids
# ('tile_17.png', 'user_1234') are masked. Each mask has a cheap test of whether it can match at
# all (a regex pass costs about 1 us per line, and this runs for every failure of a tree); runs of
# whitespace then become one space.
_FILE_EXTENSIONS = (
    "png|jpe?g|tiff?|gif|bmp|webp|npy|npz|json|csv|txt|log|py|pyc|h5|hdf5|nc|xml|ya?ml|pkl|pickle|parquet|zip|gz"
    "|tar|pdf|html?|dat|bin|tmp|geojson|shp|las|laz|vrt"
)
_QUOTED_NAME = log_pattern(
    "error_text._QUOTED_NAME",
    rf"""^(['"])(?![\w.]*\d{{3}})(?![\w.]+\.(?:{_FILE_EXTENSIONS})\1)[\w.]{{1,60}}\1$""",
    re.I,
    bound=KEY_LINE_MAX,
)
_HAS_DIGIT = log_pattern("error_text._HAS_DIGIT", r"\d")


def _mask(number: int, regex: str) -> re.Pattern[str]:
    """A signature mask: run over key lines only, which error_signature cuts to KEY_LINE_MAX."""
    return log_pattern(f"error_text._SIGNATURE_MASKS[{number}]", regex, bound=KEY_LINE_MAX)


_SIGNATURE_MASKS: tuple[tuple[Callable[[str], bool], re.Pattern[str], Any], ...] = (
    (lambda text: "://" in text, _mask(1, r"\b[a-zA-Z][\w+.-]*://[^\s'\"]+"), "<url>"),
    (lambda text: "@" in text, _mask(2, r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (
        lambda text: "-" in text,
        _mask(3, r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    (
        lambda text: "-" in text,
        _mask(4, r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
        "<datetime>",
    ),
    (lambda text: ":" in text, _mask(5, r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (lambda text: "." in text, _mask(6, r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (lambda text: "0x" in text, _mask(7, r"0x[0-9a-fA-F]+"), "<addr>"),
    (
        lambda text: _HAS_DIGIT.search(text) is not None,
        _mask(8, r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
        "<hex>",
    ),
    (lambda text: "/" in text or "\\" in text, _mask(9, r"(?:[A-Za-z]:)?(?:[\\/][\w.\- ]+){2,}[\\/]?"), "<path>"),
    (
        lambda text: "'" in text or '"' in text,
        _mask(10, r"'[^']*'|\"[^\"]*\""),
        lambda quoted: quoted[0] if _QUOTED_NAME.match(quoted[0]) else "<value>",
    ),
    (lambda text: "line " in text, _mask(11, r"\bline \d+"), "line <n>"),
    (lambda text: _HAS_DIGIT.search(text) is not None, _mask(12, r"\b\d+(?:\.\d+)?\b"), "<n>"),
)

# Exception class -> category, for the derived category.
_TYPE_CATEGORIES: dict[str, str] = {
    "ImportError": "import_error",
    "ModuleNotFoundError": "import_error",
    "NameError": "name_error",
    "UnboundLocalError": "name_error",
    "AttributeError": "attribute_error",
    "KeyError": "data_access_error",
    "IndexError": "data_access_error",
    "TypeError": "type_error",
    "ValueError": "value_error",
    "FileNotFoundError": "file_not_found",
    "IsADirectoryError": "file_not_found",
    "NotADirectoryError": "file_not_found",
    "PermissionError": "permission_error",
    "TimeoutError": "timeout",
    "TimeoutExpired": "timeout",
    "MemoryError": "memory_error",
    "SyntaxError": "syntax_error",
    "IndentationError": "syntax_error",
    "TabError": "syntax_error",
    "ZeroDivisionError": "arithmetic_error",
    "OverflowError": "arithmetic_error",
    "FloatingPointError": "arithmetic_error",
    "AssertionError": "assertion_error",
    "RecursionError": "runtime_error",
    "RuntimeError": "runtime_error",
    "NotImplementedError": "runtime_error",
    "UnicodeDecodeError": "encoding_error",
    "UnicodeEncodeError": "encoding_error",
    "JSONDecodeError": "input_parsing_error",
    "OSError": "os_error",
    "IOError": "os_error",
}

# The original writer's keyword classifier, in its order (LOG_FORMAT.md).
_KEYWORD_CATEGORIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("import", "modulenotfounderror"), "import_error"),
    (("attributeerror",), "attribute_error"),
    (("keyerror", "indexerror"), "data_access_error"),
    (("typeerror",), "type_error"),
    (("valueerror",), "value_error"),
    (("filenotfounderror", "no such file"), "file_not_found"),
    (("permission", "access"), "permission_error"),
    (("timeout",), "timeout"),
    (("memory",), "memory_error"),
    (("syntax",), "syntax_error"),
)

_MISSING_MODULE = log_pattern("error_text._MISSING_MODULE", r"No module named '([\w.]+)'")


def key_error_line(error_message: str | None, stderr: str | None) -> str | None:
    """Return the line that names the error: the last exception line of stderr, else error_message.

    Parameters: error_message, stderr (either may be None). Output: at most 200 characters, or None
    when neither text says anything. Secrets are masked before the line is cut (loaders.text.secrets.clip):
    the index keeps no half of one, which the rules would no longer recognise.
    """
    if stderr:
        for line in reversed(stderr.strip().splitlines()):
            if _EXCEPTION_LINE.match(line):
                return _cut(line.strip())
    if error_message and error_message.strip():
        message = _SCRIPT_PREFIX.sub("", error_message.strip())
        return _cut((message or error_message.strip()).splitlines()[0])
    return None


def _cut(line: str) -> str:
    """The line's first KEY_LINE_MAX characters, its secrets masked first (over a bounded stretch of it)."""
    if len(line) <= KEY_LINE_MAX:  # not cut: masked where it is shown, like any text
        return line
    return clip(line[: KEY_LINE_MAX + SECRET_MARGIN], KEY_LINE_MAX)


def error_type_of(text: str | None) -> str | None:
    """Return the first exception class named in ``text`` by the writer's pattern, or None."""
    if not text:
        return None
    match = _ERROR_TYPE.search(text)
    return match.group(1) if match else None


SIGNATURE_CACHE_ENTRIES = 16384  # key lines repeat: the same error across attempts and sessions


@functools.lru_cache(maxsize=SIGNATURE_CACHE_ENTRIES)
def error_signature(key_line: str | None) -> str | None:
    """Return the key line with names, numbers, paths and addresses masked (what a fingerprint hashes)."""
    if not key_line:
        return None
    signature = key_line.strip()[:KEY_LINE_MAX]
    for may_match, pattern, replacement in _SIGNATURE_MASKS:
        if may_match(signature):
            signature = pattern.sub(replacement, signature)
    return " ".join(signature.split())


@functools.lru_cache(maxsize=SIGNATURE_CACHE_ENTRIES)
def fingerprint(signature: str | None) -> str | None:
    """Return a stable 12-hex fingerprint of an error signature, or None without one."""
    if not signature:
        return None
    return hashlib.sha1(signature.encode("utf-8")).hexdigest()[:12]


def keyword_category(error_message: str | None, stderr: str | None) -> str:
    """Classify as the original writer did (LOG_FORMAT.md), from the lower-cased texts."""
    text = f"{error_message or ''} {stderr or ''}".lower()
    for keywords, category in _KEYWORD_CATEGORIES:
        if any(word in text for word in keywords):
            return category
    return "unknown"


def derived_category(stored: str | None, error_type: str | None, key_line: str | None) -> str:
    """Return the category charts use: from the exception class when known, else the stored one.

    Parameters: stored error_category, error_type, key error line. A stored category other than
    ``unknown`` is kept unless the exception class says more precisely what happened.
    """
    exception = error_type or error_type_of(key_line)
    if exception:
        short = exception.rsplit(".", 1)[-1]
        if short in _TYPE_CATEGORIES:
            return _TYPE_CATEGORIES[short]
    if stored and stored != "unknown":
        return stored
    if key_line:
        by_keyword = keyword_category(key_line, None)
        if by_keyword != "unknown":
            return by_keyword
        lowered = key_line.lower()
        if "timed out" in lowered:
            return "timeout"
        if "exited with code" in lowered or "killed" in lowered:
            return "process_error"
        if exception:
            return "other_exception"
    return stored or "unknown"


def missing_module(key_line: str | None) -> str | None:
    """Return the module a ``No module named 'x'`` line names (top level), or None."""
    if not key_line:
        return None
    match = _MISSING_MODULE.search(key_line)
    return match.group(1).split(".")[0] if match else None


# A frame's line: blanks before ``File`` and the quoted name stay on that line (``\s*`` would scan
# every blank line after each line start again, in the square of the text's length).
_FRAME_FILE = log_pattern("error_text._FRAME_FILE", r'^[ \t]*File "([^"\n]+)"', re.M)


def blamed_libraries(libraries: list[str], key_line: str | None, stderr: str | None) -> list[str]:
    """The libraries among ``libraries`` (those the attempt uses) that a failure is laid at.

    A library is blamed when its import fails (``No module named 'x'``), when the key error line
    names it as a word (``module 'cv2' has no attribute``, ``skimage.filters``), or when a frame of
    the traceback is in its code (``.../site-packages/scipy/ndimage/...``). Using a library is not
    blame: every script of a service may import its bridge module.
    """
    if not libraries:
        return []
    missing = missing_module(key_line)
    frames = _FRAME_FILE.findall(stderr) if stderr and 'File "' in stderr else []
    blamed = []
    for library in libraries:
        if (
            (missing is not None and missing.split(".")[0] == library)
            or (key_line is not None and library in key_line and _names(library, key_line))
            or any(f"/{library}/" in frame or f"\\{library}\\" in frame for frame in frames)
        ):
            blamed.append(library)
    return blamed


def _names(library: str, text: str) -> bool:
    """True when ``text`` holds ``library`` as a word of its own (``'cv2'``, ``skimage.filters``)."""
    return _word_pattern(library).search(text) is not None


@functools.lru_cache(maxsize=1024)
def _word_pattern(library: str) -> re.Pattern[str]:
    # A literal between two one-character look-arounds: linear (and run over key lines only).
    return re.compile(rf"(?<![\w.]){re.escape(library)}(?!\w)")
