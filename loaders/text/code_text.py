"""Reading code: the third-party modules it imports, and the tokens that fix recipes compare."""

from __future__ import annotations

import keyword
import re
import sys
import zlib

from loaders.text.patterns import log_pattern

# One import statement at the start of a line (no match spans lines, so no backtracking over them).
_IMPORT_LINE = log_pattern(
    "code_text._IMPORT_LINE", r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import\b|import[ \t]+([\w.][\w., \t]*))", re.M
)
_STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) | {"__future__"}
# Starts at a ``[`` only, and no part can hold one: each start scans its own stretch.
_SUBSCRIPT = log_pattern("code_text._SUBSCRIPT", r"""\[\s*(-?\d+|'[^'\s]{0,20}'|"[^"\s]{0,20}")\s*\]""")
# Every ASCII character that cannot be part of a name becomes a space: str.translate + split is
# the fastest tokenizer here (a regex findall costs about twice as much on every file of a tree).
_NOT_NAME = str.maketrans({chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")})
_IGNORED_NAMES = frozenset(keyword.kwlist) | {"self"}


def code_imports(code: str | None) -> list[str]:
    """Return the sorted top-level third-party modules the code imports (``from a.b import c`` -> ``a``).

    Standard-library modules are left out: they are not libraries a model can pick wrongly.
    """
    if not code:
        return []
    modules: set[str] = set()
    for from_module, import_list in _IMPORT_LINE.findall(code):
        if from_module:
            if not from_module.startswith("."):
                modules.add(from_module.split(".")[0])
            continue
        for part in import_list.split(","):
            name = part.strip().split(" ")[0]
            if name:
                modules.add(name.split(".")[0])
    return sorted(modules - _STANDARD_LIBRARY)


def code_tokens(code: str | None) -> set[str]:
    """The words the code uses (``SendTileOutput``) and its constant subscripts (``[0]``, ``['0']``).

    Words inside strings and comments count too (telling them apart costs more than it is worth
    for comparing two versions of one script). What a fix changed is the difference of two
    attempts' tokens (loaders.analysis.recipes).
    """
    if not code:
        return set()
    words = set(code.translate(_NOT_NAME).split()) - _IGNORED_NAMES
    tokens = {word for word in words if not word[0].isdigit()}
    tokens.update(f"[{match}]" for match in _SUBSCRIPT.findall(code))
    return tokens


SKETCH_LINES = 64
_COMMENT = ord("#")  # a line starting with it is a comment: left out of sketches


def code_sketch(code: str | None) -> list[int]:
    """A compact sketch of the code for telling a retry from another script: the CRC-32s of its
    distinct lines, stripped, with blank lines and ``#`` comments dropped (a header comment such as
    ``# Last Code Update - 11:55:19`` changes on every run); the SKETCH_LINES smallest, sorted.

    Two sketches' Jaccard similarity (shared values over all values) estimates how much of the
    lines two versions share: about 0.8 for a retry that changed a few lines of a 20-line script,
    under 0.3 for another script that shares its boilerplate.
    """
    if not code:
        return []
    lines = map(bytes.strip, code.encode("utf-8", "surrogatepass").split(b"\n"))
    hashes = {zlib.crc32(line) for line in lines if line and line[0] != _COMMENT}
    return sorted(hashes)[:SKETCH_LINES]
