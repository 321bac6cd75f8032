"""Fixtrail's secret rules (loaders.text.secrets) against detect-secrets, on the corpus of real secret
formats and near-misses (tests/secret_corpus.py) and on speed over the demo tree's texts.

Run: ``.venv/bin/python -m bench.secrets_compare [--logs-dir logs]``. Prints, for each detector, the
secrets it finds (of 34 planted), the near-misses it flags (of 30, each a false alarm that would hide
text a reader needs), and its throughput in MB/s over every prompt, code, error, stderr and stdout of
the tree. detect-secrets scans line by line with its default plugins (as ``detect-secrets scan`` does);
a secret counts as found when a reported value lies within the planted secret or covers it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson

from loaders.text.secrets import find_secrets
from tests.secret_corpus import NEAR_MISSES, SECRETS, needles

TEXT_FIELDS = ("user_prompt", "code", "error_message", "stderr", "stdout")


def tree_texts(root: Path, limit: int = 5000) -> list[str]:
    """The text fields of up to ``limit`` attempt records of the tree."""
    texts: list[str] = []
    for path in sorted(root.glob("*/*/*.json"))[:limit]:
        try:
            record = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(record, dict):
            texts += [record[field] for field in TEXT_FIELDS if isinstance(record.get(field), str)]
    return texts


def ours(text: str) -> list[str]:
    """The spans Fixtrail masks."""
    return [text[found.start : found.end] for found in find_secrets(text)]


def detect_secrets_values(text: str) -> list[str]:
    """The values detect-secrets reports, line by line, with its default plugins."""
    from detect_secrets.core.scan import scan_line

    return [str(found.secret_value) for line in text.splitlines() for found in scan_line(line) if found.secret_value]


def score(detector, texts: list[str]) -> tuple[int, int, float]:
    """(secrets found, near-misses flagged, MB/s over ``texts``)."""
    found = 0
    for (_, text), secret in zip(SECRETS, needles(), strict=True):
        values = detector(text)
        found += any(value in secret or secret in value for value in values)
    flagged = sum(bool(detector(text)) for text in NEAR_MISSES)
    size = sum(len(text) for text in texts)
    started = time.perf_counter()
    for text in texts:
        detector(text)
    seconds = time.perf_counter() - started
    return found, flagged, size / 1e6 / seconds if seconds else float("inf")


def main() -> None:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs-dir", default="logs", type=Path)
    args = parser.parse_args()
    texts = tree_texts(args.logs_dir)
    from detect_secrets.settings import default_settings

    print(f"corpus: {len(SECRETS)} secrets, {len(NEAR_MISSES)} near-misses; speed over {len(texts)} texts")
    print(f"{'detector':<16} {'found':>7} {'false alarms':>13} {'MB/s':>8}")
    rows = [("fixtrail (RE2)", ours)]
    with default_settings():
        rows.append(("detect-secrets", detect_secrets_values))
        for name, detector in rows:
            found, flagged, speed = score(detector, texts)
            print(f"{name:<16} {found:>4}/{len(SECRETS)} {flagged:>9}/{len(NEAR_MISSES)} {speed:>8.1f}")


if __name__ == "__main__":
    main()
