"""What changed between two attempts' code, worked out for many pairs of files (fix recipes).

Light on imports on purpose: the parse workers (``loaders.ingest.parse_worker``) run token_changes on
chunks of pairs when there are thousands, each worker reading its pairs' files itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from loaders.core.files import READ_FLAGS, UnreadableFile, read_descriptor
from loaders.ingest.records import MAX_FILE_MB_ENV, max_record_bytes, parse_json_object
from loaders.ingest.tree import InsideOpener
from loaders.text.code_text import code_imports, code_tokens

CHANGE_COLUMNS = ("removed_imports", "added_imports", "removed_tokens", "added_tokens")


def describe_change(before: str, after: str) -> dict[str, list[str]]:
    """What changed between two versions of a script: its third-party imports and its tokens.

    The unified diff is not part of it: only a session's timeline shows one, and it makes its own
    (loaders.analysis.sessions.code_diff).
    """
    old_imports, new_imports = set(code_imports(before)), set(code_imports(after))
    old_tokens, new_tokens = code_tokens(before), code_tokens(after)
    return {
        "removed_imports": sorted(old_imports - new_imports),
        "added_imports": sorted(new_imports - old_imports),
        "removed_tokens": sorted(old_tokens - new_tokens),
        "added_tokens": sorted(new_tokens - old_tokens),
    }


def token_changes(
    pairs: Iterable[tuple[str, str]], read_record: Callable[[str], dict[str, Any] | None]
) -> list[tuple[list[str], list[str]]]:
    """(removed tokens, added tokens) for each (failure path, next path), reading code with ``read_record``.

    Only the tokens need the code: what the imports changed is worked out from the index's
    ``imports`` column (loaders.analysis.transitions), which saves a fifth of this work. Give the pairs in
    session order: the attempt that followed one failure is often the next pair's failure, and is
    then read once.
    """
    latest: tuple[str, set[str]] | None = None

    def tokens(path: str) -> set[str]:
        nonlocal latest
        if latest is None or latest[0] != path:
            record = read_record(path)
            code = record.get("code") if record else None
            latest = (path, code_tokens(code if isinstance(code, str) else None))
        return latest[1]

    changes = []
    for failure_path, next_path in pairs:
        before = tokens(failure_path)
        after = tokens(next_path)
        changes.append((sorted(before - after), sorted(after - before)))
    return changes


def read_tree_record(root: str) -> Callable[[str], dict[str, Any] | None]:
    """A reader of the records of the local tree at ``root`` (files that left it, or unreadable, read as None).

    Keeps descriptors of the directories it reads from (loaders.ingest.tree.InsideOpener), closed when
    the reader is dropped.
    """
    opener = InsideOpener(Path(root))
    limit = max_record_bytes()  # read from the environment once, not for each of thousands of files

    def read(path: str) -> dict[str, Any] | None:
        try:
            descriptor = opener.open(path, READ_FLAGS)
        except OSError:
            return None
        if descriptor is None:
            return None
        try:
            return parse_json_object(read_descriptor(descriptor, limit, MAX_FILE_MB_ENV)[0])
        except UnreadableFile:
            return None

    return read
