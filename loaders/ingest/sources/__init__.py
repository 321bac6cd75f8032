"""Where the index's rows come from: a local tree, an object-storage prefix, or a Delta table.

Ingest and analysis are two parts. A source lists what changed since the index last saw it and
yields parsed rows (``loaders.ingest.parsing.ParsedBatch``); ``loaders.store.index`` stores them, derives the
facts and serves every query without knowing which source fed it. ``open_source`` picks one from
a location: ``s3://bucket/prefix`` (``loaders.ingest.sources.s3``), a Delta table given as ``table``
(``loaders.ingest.sources.delta``; as a location ``delta+URL``), else a directory (``loaders.ingest.sources.local``).
"""

from __future__ import annotations

import os

from loaders.ingest.sources.base import DELTA_SCHEME, S3_SCHEME, Source, SourceUnavailable
from loaders.ingest.tree import check_logs_dir

__all__ = ["Source", "SourceUnavailable", "is_remote", "open_source", "source_location", "table_location"]


def is_remote(location: str | os.PathLike[str]) -> bool:
    """True for a location that is not a local directory: ``s3://...`` or ``delta+...``."""
    return os.fspath(location).startswith((S3_SCHEME, DELTA_SCHEME))


def table_location(table: str) -> str:
    """The location text of a Delta table at ``table`` (a local path or an ``s3://`` URL)."""
    return table if table.startswith(DELTA_SCHEME) else f"{DELTA_SCHEME}{table}"


def source_location(location: str | os.PathLike[str]) -> str:
    """The canonical text of a location: ``s3://bucket/prefix`` checked, a directory resolved, a table as given.

    Raises LogTreeError (a directory missing) or ValueError (a malformed ``s3://`` URL).
    """
    text = os.fspath(location)
    if text.startswith(DELTA_SCHEME):
        return text
    if text.startswith(S3_SCHEME):
        from loaders.ingest.sources.s3 import split_s3_url

        bucket, prefix = split_s3_url(text)
        return f"{S3_SCHEME}{bucket}/{prefix}".rstrip("/")
    return str(check_logs_dir(text))


def open_source(location: str | os.PathLike[str] | Source, table: str | None = None) -> Source:
    """The source for a location: a Delta ``table`` (or ``delta+URL``), an ``s3://`` prefix, else a local tree.

    boto3 and deltalake are imported only when such a source is opened.
    """
    if not isinstance(location, (str, os.PathLike)):
        return location
    text = table_location(table) if table else os.fspath(location)
    if text.startswith(DELTA_SCHEME):
        from loaders.ingest.sources.delta import DeltaTableSource

        return DeltaTableSource(text.removeprefix(DELTA_SCHEME))
    if text.startswith(S3_SCHEME):
        from loaders.ingest.sources.s3 import S3PrefixSource

        return S3PrefixSource(text)
    from loaders.ingest.sources.local import LocalTreeSource

    return LocalTreeSource(check_logs_dir(text))
