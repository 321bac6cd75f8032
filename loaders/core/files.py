"""Fixtrail's own files (not records): the one guarded reader and the one atomic writer.

Every file Fixtrail reads besides records (the tree's markers, the alert memory beside the index,
the domain configuration) is read by ``read_state_json``: opened non-blocking and checked on the open
descriptor (a FIFO or a device put in its place is refused at once, never waited on), capped in
size (a link to ``/dev/zero`` is not read until memory runs out), parsed by orjson (nesting too deep
is an error, not a RecursionError). Every file Fixtrail writes goes through ``write_atomically``: a
temporary file in the same directory, created with the umask's mode (0644 under umask 022, as
``open()`` makes files), synced, then renamed over the target, so that a reader, a full disk or a
killed process never leaves half a file, and a FIFO at the target is replaced, not written into.
(The writer, ``backend/script_logger.py``, has its own copy of that writer: it stands alone on the
standard library, so that services can vendor it.)
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import orjson

STATE_FILE_MAX_BYTES = 16 << 20
# Non-blocking: a FIFO or a device opens at once (and is then refused), instead of waiting for a writer.
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0)


class UnreadableFile(Exception):
    """A file that cannot be used as what it should hold; its message is the reason shown to people."""


def mib(size: int) -> str:
    """A size in bytes as MiB text (``1.5 MiB``)."""
    return f"{size / (1 << 20):,.1f} MiB"


def open_for_reading(path: str | os.PathLike[str]) -> int:
    """A descriptor of ``path`` opened with READ_FLAGS (hand it to read_descriptor).

    Raises FileNotFoundError when nothing is there, UnreadableFile (saying why) for anything else.
    """
    try:
        return os.open(path, READ_FLAGS)
    except FileNotFoundError:
        raise
    except IsADirectoryError as exc:
        raise UnreadableFile("is a directory, not a file") from exc
    except OSError as exc:
        raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from exc


def read_any_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them (see read_descriptor).

    Raises FileNotFoundError when nothing is there, UnreadableFile (saying why) for anything else.
    """
    return read_descriptor(open_for_reading(path), limit)[0]


def read_descriptor(fd: int, limit: int, setting: str | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes and stat of a file opened with READ_FLAGS, which this closes; raises UnreadableFile.

    Checked on the open descriptor (so the stat belongs to what was read): a directory, a FIFO or a
    device is refused at once, a file over ``limit`` bytes is not read, and one that grows past it
    while read stops there. ``setting``: the environment variable that sets the limit, named in the
    error (None: none does). Plain os.read: for the many small files of a tree, the io module's
    buffered file object costs more than the read itself.
    """
    hint = f"; ${setting}" if setting else ""
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(f"larger than the {mib(limit)} limit ({mib(info.st_size)}{hint})")
        chunks = [os.read(fd, info.st_size + 1)]
        read = len(chunks[0])
        while chunks[-1]:  # the file grew while being read, or reports no size: read to the end
            if len(chunks) == 1 and read <= info.st_size:
                break
            if read > limit:
                raise UnreadableFile(f"larger than the {mib(limit)} limit (it grew while read{hint})")
            chunks.append(os.read(fd, 1 << 20))
            read += len(chunks[-1])
        return b"".join(chunks), info
    except OSError as exc:
        raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


class StateFileError(Exception):
    """One of Fixtrail's own files cannot be used; the message names the file and says why."""


def read_state_json(path: str | os.PathLike[str], max_bytes: int = STATE_FILE_MAX_BYTES) -> Any:
    """The JSON value in ``path``, or None when there is no file there.

    Raises StateFileError (naming the file) for anything else: not a regular file, larger than
    ``max_bytes``, unreadable, not UTF-8 JSON (a byte-order mark is allowed), nested too deeply.
    """
    try:
        raw = read_any_file(path, max_bytes)
    except FileNotFoundError:
        return None
    except UnreadableFile as exc:
        raise StateFileError(f"{path}: {exc}") from None
    try:
        return orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise StateFileError(f"{path}: not valid JSON ({exc})") from None


def write_atomically(path: str | os.PathLike[str], payload: bytes, mode: int = 0o666) -> None:
    """Replace ``path`` by ``payload``, all or nothing, with ``mode`` less the umask (0o600: only its owner
    reads it, from its first byte); the directory is made if missing.

    Raises OSError when it cannot be written (the previous file, if any, is then left as it was).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def json_bytes(value: Any) -> bytes:
    """``value`` as indented UTF-8 JSON ending with a new line (what Fixtrail's own files hold)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"
