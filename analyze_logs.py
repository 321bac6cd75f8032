#!/usr/bin/env python3
"""Script execution log analysis CLI (the original's commands): see ``python analyze_logs.py --help``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
