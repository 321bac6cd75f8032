"""Where the dashboard's logs are: ``--logs-dir`` after ``--``, else $FIXTRAIL_LOGS_DIR, else the demo tree."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

LOGS_DIR_ENV = "FIXTRAIL_LOGS_DIR"
DEMO_LOGS = Path(__file__).resolve().parents[1] / "logs"


def resolve_logs_dir(argv: list[str]) -> str:
    """The log directory chosen by the command line, the environment or the default demo tree."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--logs-dir")
    known, _ = parser.parse_known_args(argv)
    return str(Path(known.logs_dir or os.environ.get(LOGS_DIR_ENV) or DEMO_LOGS).expanduser())
