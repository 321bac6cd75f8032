"""Where the index's rows come from: a local tree, an object-storage prefix, or a Delta table.

Ingest and analysis are two parts. A source lists what changed since the index last saw it and
yields parsed rows (``loaders.parsing.ParsedBatch``); ``loaders.index`` stores them, derives the
facts and serves every query without knowing which source fed it. ``open_source`` picks one from
a location: ``s3://bucket/prefix`` (``loaders.sources.s3``), a Delta table given as ``table``
(``loaders.sources.delta``; as a location ``delta+URL``), else a directory (``loaders.sources.local``).
"""

from loaders.sources.base import (
    Source,
    SourceUnavailable,
    is_remote,
    open_source,
    source_location,
    table_location,
)

__all__ = ["Source", "SourceUnavailable", "is_remote", "open_source", "source_location", "table_location"]
