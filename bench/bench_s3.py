"""Fixtrail beyond one machine, measured: S3 listing and fetching, Delta compaction, and the Overview on a big table.

Usage: python -m bench.bench_s3 [--objects 500,2000] [--rows 100000,1000000] [--out bench/results/s3.json]

Against moto's S3 server on 127.0.0.1 (started here; no network beyond loopback), for each count of
--objects (attempt objects uploaded from a generated tree):
  list      objects listed per second (S3PrefixSource.find_changes on an empty index)
  fetch     objects fetched and parsed per second (32 threads; loaders.ingest.records, as for files)
  load      the first refresh of an index of the prefix: list + fetch + parse + store + facts
  compact   rows merged into a Delta table per second (analyze_logs.py compact)
then, for each count of --rows, rows generated straight into a local Delta table (partitioned by
day, three attempts a session), and:
  refresh   the dashboard's first load of its index from the table (LogIndex(table=...), in memory)
  overview  the dashboard's Overview page (AppTest): the first run (index load included), a run with
            the query cache cleared (every Overview query on the loaded index), and a warm run.
Each figure is one run (the sizes are the repetition); growth is read across the sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loaders.demo.trees import generate_tree  # noqa: E402
from tests.s3_server import client, moto_server, new_bucket, use_endpoint_env  # noqa: E402

APP = str(ROOT / "dashboard" / "streamlit_app.py")

# A year of linked sessions of three attempts (fail, fail, then a success in four sessions of five).
GENERATED_ROWS_SQL = """
WITH numbered AS (SELECT range AS i, range // 3 AS s, range % 3 AS step FROM range(?)),
shaped AS (
  SELECT *, TIMESTAMP '2025-01-01' + to_seconds((s * 31536000 // (? // 3 + 1)) + step * 60) AS ts,
         CASE WHEN step = 2 AND s % 5 <> 0 THEN 'success' ELSE 'failed' END AS st,
         (s * 7) % 40 AS kind
  FROM numbered
)
SELECT
  'l' || i AS log_id, 's' || s AS session_id, ts AS timestamp, st AS status,
  lpad(to_hex(s % 100000), 16, '0') AS code_hash, 'Blur tile ' || (s % 50) AS user_prompt,
  'model-' || (s % 4) AS ai_model, 'tile' || (s % 1000) || '.png' AS image_filename,
  CASE WHEN st = 'failed' THEN 'Script exited with code 1. Error: E' || kind END AS error_message,
  CASE WHEN st = 'failed' THEN 'Error' || (kind % 8) END AS error_type,
  CASE WHEN st = 'failed' THEN 1 END AS return_code,
  CASE WHEN st = 'success' THEN ['out.png'] END AS output_files,
  CASE WHEN st = 'success' THEN 1.5 END AS execution_time_seconds,
  CASE WHEN step > 0 THEN 'l' || (i - 1) END AS previous_attempt_id, NULL AS fixed_by,
  CASE WHEN st = 'failed' THEN 'unknown' END AS error_category, ['lib:numpy'] AS tags,
  CASE WHEN st = 'failed' THEN 'Error' || (kind % 8) || ': problem ' || kind END AS error_line,
  CASE WHEN st = 'failed' THEN 'Error' || (kind % 8) || ': problem <n>' END AS error_signature,
  CASE WHEN st = 'failed' THEN substr(md5('sig' || kind), 1, 12) END AS fingerprint,
  CASE WHEN st = 'failed' THEN 'unknown' END AS category, ['numpy'] AS imports, NULL AS code_sketch,
  CASE WHEN st = 'failed' THEN ['numpy'] END AS blamed_libraries, NULL AS bridge_issue, 12 AS code_lines,
  400 AS stdout_chars, CASE WHEN st = 'failed' THEN 300 END AS stderr_chars, []::VARCHAR[] AS flags,
  's3://bench/logs/' || CASE WHEN st = 'failed' THEN 'failures' ELSE 'successes' END || '/'
    || strftime(ts, '%Y-%m-%d') || '/l' || i || '.json' AS path,
  's3://bench/logs/' || CASE WHEN st = 'failed' THEN 'failures' ELSE 'successes' END || '/'
    || strftime(ts, '%Y-%m-%d') AS dir,
  CASE WHEN st = 'failed' THEN 'failures' ELSE 'successes' END AS folder, 3000 AS size,
  epoch_ns(ts) AS mtime_ns, CAST(ts AS DATE) AS day
FROM shaped
"""


def upload(endpoint: str, root: Path, count: int, prefix: str) -> int:
    """Put the first ``count`` attempt files of a tree under ``prefix`` of bucket ``logs`` (16 threads)."""
    files = sorted(p for folder in ("failures", "successes") for p in (root / folder).rglob("*.json"))[:count]
    s3 = client(endpoint)

    def put(path: Path) -> None:
        s3.put_object(Bucket="logs", Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=path.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
    return len(files)


def measure_objects(endpoint: str, tree: Path, count: int, scratch: Path) -> dict:
    """Listing, fetching, a first index load and a compaction of ``count`` objects."""
    from loaders.ingest.sources.delta import compact
    from loaders.ingest.sources.s3 import S3PrefixSource, marks_connection
    from loaders.store.index import LogIndex

    prefix = f"bench-{count}"
    uploaded = upload(endpoint, tree, count, prefix)
    source = S3PrefixSource(f"s3://logs/{prefix}")
    with duckdb.connect() as con:
        started = time.perf_counter()
        changes = source.find_changes(marks_connection(con, {}), full=False, first_load=True, workers=1)
        listed = time.perf_counter() - started
    items = [(stamp, folder) for stamp, folder, _ in changes.stale]
    started = time.perf_counter()
    parsed = sum(batch.files for batch in source.parsed_batches(items, None, None, None))
    fetched = time.perf_counter() - started
    started = time.perf_counter()
    LogIndex(f"s3://logs/{prefix}", scratch / f"cache-{count}").refresh()
    loaded = time.perf_counter() - started
    report = compact(f"s3://logs/{prefix}", str(scratch / f"compacted-{count}"))
    assert len(items) == parsed == uploaded == report.added, (len(items), parsed, uploaded, report.added)
    return {
        "objects": uploaded,
        "list_seconds": listed,
        "listed_per_second": uploaded / listed,
        "fetch_seconds": fetched,
        "fetched_per_second": uploaded / fetched,
        "first_load_seconds": loaded,
        "compact_seconds": report.seconds,
        "compact_commit_seconds": report.commit_seconds,
        "compacted_rows_per_second": report.added / report.seconds,
    }


def generate_table(url: str, rows: int) -> float:
    """Write ``rows`` generated attempt rows straight into a Delta table at ``url``; returns seconds."""
    from deltalake import write_deltalake

    from loaders.ingest.sources.delta import table_schema

    started = time.perf_counter()
    with duckdb.connect() as con:
        data = con.sql(GENERATED_ROWS_SQL, params=[rows, rows]).to_arrow_table()
    data = data.select(table_schema().names).cast(table_schema())
    write_deltalake(url, data, partition_by=["day"], mode="overwrite")
    return time.perf_counter() - started


def overview_runs(table_url: str) -> dict:
    """The Overview page's first run, a run with the query cache cleared, and a warm run (seconds)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["FIXTRAIL_TABLE"] = table_url
    times = {}
    for name in ("first_run", "queries_uncached", "warm"):
        if name == "queries_uncached":
            st.cache_data.clear()
        app = AppTest.from_file(APP, default_timeout=900)
        started = time.perf_counter()
        app.run()
        times[name] = time.perf_counter() - started
        if app.exception:
            raise RuntimeError(app.exception[0].message)
    st.cache_resource.clear()
    st.cache_data.clear()
    return times


def measure_table(rows: int, scratch: Path) -> dict:
    """Generate a table of ``rows``, then the dashboard's index load from it and its Overview runs."""
    from loaders.store.index import LogIndex

    url = str(scratch / f"table-{rows}")
    generated = generate_table(url, rows)
    started = time.perf_counter()
    index = LogIndex("unused", scratch / f"table-cache-{rows}", table=url)
    report = index.refresh()
    refresh = time.perf_counter() - started
    assert report.files_seen == rows, report
    os.environ["FIXTRAIL_CACHE_DIR"] = str(scratch / f"dashboard-cache-{rows}")
    return {"rows": rows, "generate_seconds": generated, "refresh_seconds": refresh, **overview_runs(url)}


def main() -> int:
    """Run the measurements and print them (and write them as JSON with --out)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", default="500,2000")
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    counts = [int(n) for n in args.objects.split(",") if n]
    sizes = [int(n) for n in args.rows.split(",") if n]
    scratch = Path(tempfile.mkdtemp(prefix="fixtrail-bench-s3-"))
    results: dict = {"objects": [], "table": []}
    try:
        with moto_server() as endpoint:
            use_endpoint_env(os.environ, endpoint)
            new_bucket(endpoint, "logs")
            tree = scratch / "tree"
            generate_tree(tree, sessions=max(counts), days=30, seed=5)
            for count in counts:
                results["objects"].append(measure_objects(endpoint, tree, count, scratch))
                print(json.dumps(results["objects"][-1]), flush=True)
        for rows in sizes:
            results["table"].append(measure_table(rows, scratch))
            print(json.dumps(results["table"][-1]), flush=True)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    print_table(results)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def print_table(results: dict) -> None:
    """The figures as two small tables."""
    print("\nobjects | listed/s | fetched+parsed/s | first index load s | compacted rows/s | merge+commit s")
    for r in results["objects"]:
        print(
            f"{r['objects']:>7} | {r['listed_per_second']:>8,.0f} | {r['fetched_per_second']:>16,.0f} |"
            f" {r['first_load_seconds']:>18.2f} | {r['compacted_rows_per_second']:>16,.0f} |"
            f" {r['compact_commit_seconds']:>14.2f}"
        )
    print("\ntable rows | generate s | index refresh s | Overview first run s | Overview, queries uncached s | warm s")
    for r in results["table"]:
        print(
            f"{r['rows']:>10,} | {r['generate_seconds']:>10.1f} | {r['refresh_seconds']:>15.1f} |"
            f" {r['first_run']:>20.1f} | {r['queries_uncached']:>28.2f} | {r['warm']:>6.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
