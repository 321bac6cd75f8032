"""Where the dashboard's logs are: ``--logs-dir`` after ``--``, else $FIXTRAIL_LOGS_DIR, else the demo tree.

A directory or an ``s3://bucket/prefix``; ``--table URL`` (or $FIXTRAIL_TABLE), a Delta table, comes first."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from loaders.ingest.sources import is_remote, table_location

LOGS_DIR_ENV = "FIXTRAIL_LOGS_DIR"
TABLE_ENV = "FIXTRAIL_TABLE"
DEMO_LOGS = Path(__file__).resolve().parents[1] / "logs"


def resolve_logs_dir(argv: list[str]) -> str:
    """The log directory (or ``s3://`` prefix) chosen by the command line, the environment or the default demo tree."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--logs-dir")
    parser.add_argument("--table")
    known, _ = parser.parse_known_args(argv)
    table = known.table or os.environ.get(TABLE_ENV)
    if table:
        return table_location(table)
    chosen = str(known.logs_dir or os.environ.get(LOGS_DIR_ENV) or DEMO_LOGS)
    return chosen if is_remote(chosen) else str(Path(chosen).expanduser())
