"""The Delta table: ``compact`` merges new attempts from an s3:// prefix; ``--table`` reads it for every reader.

Against a real S3 API (moto's server on 127.0.0.1) and real delta-rs commits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from api.server import create_app
from cli.main import main as cli_main
from loaders.analysis.attempts import attempt_record
from loaders.analysis.metrics import summary
from loaders.analysis.recipes import fix_rules
from loaders.analysis.transitions import transition_changes
from loaders.ingest.sources import SourceUnavailable, table_location
from loaders.ingest.sources.delta import MARKS_KEY, SOURCE_KEY, compact, storage_options
from loaders.store.index import LogIndex
from tests.conftest import AS_OF, write_record
from tests.ports import free_port
from tests.s3_server import client, moto_server, new_bucket, upload_tree, use_endpoint

REPO = Path(__file__).resolve().parents[1]
COMPARED = "SELECT * EXCLUDE (path, dir, size, mtime_ns) FROM attempts ORDER BY log_id, timestamp, status"


@pytest.fixture
def s3_env(s3_env: str) -> str:
    """The shared S3 environment (conftest) with a second fresh bucket, ``tables``."""
    new_bucket(s3_env, "tables")
    return s3_env


@pytest.fixture(params=["local", "s3"])
def table_url(request, tmp_path, s3_env) -> str:
    """A Delta table's location: a local path, or an s3:// URL on the test server."""
    return str(tmp_path / "attempts-table") if request.param == "local" else "s3://tables/attempts"


def _rows(table_url: str) -> tuple[int, int]:
    """(rows, distinct paths) of the table."""
    data = DeltaTable(table_url, storage_options=storage_options(table_url)).to_pyarrow_table(columns=["path"])
    return data.num_rows, len(set(data.column("path").to_pylist()))


def test_a_compacted_table_gives_the_same_numbers_as_the_tree(table_url, demo_tree, cache_dir):
    root, _ = demo_tree
    uploaded = upload_tree(os.environ["AWS_ENDPOINT_URL"], root, "logs", "fleet")
    report = compact("s3://logs/fleet", table_url)
    assert (report.listed, report.added, report.skipped) == (uploaded, uploaded, 0)
    table = LogIndex("unused", cache_dir, table=table_url)
    local = LogIndex(root, cache_dir)
    assert summary(table, as_of=AS_OF) == summary(local, as_of=AS_OF)
    assert table.frame(COMPARED).equals(local.frame(COMPARED))
    delta = DeltaTable(table_url, storage_options=storage_options(table_url))
    assert delta.metadata().partition_columns == ["day"]
    commit = delta.history(1)[0]
    assert commit[SOURCE_KEY] == "s3://logs/fleet" and json.loads(commit[MARKS_KEY])  # the watermark is in the commit
    log_id = table.frame("SELECT log_id FROM attempts ORDER BY log_id LIMIT 1").iloc[0, 0]
    assert attempt_record(table, log_id)["code"]  # the full record, fetched by its key from object storage
    # Fix recipes from records fetched from object storage: recorded once, the same rules as the tree's.
    changes = transition_changes(table)
    assert len(changes) and changes["added_tokens"].notna().all()
    assert (
        transition_changes(table)[["failure_path", "added_tokens"]]
        .astype(str)
        .equals(changes[["failure_path", "added_tokens"]].astype(str))
    )
    with table.index_file() as connection:
        assert connection.execute("SELECT count(*) FROM idx.transition_changes").fetchone()[0] == len(changes)
    assert fix_rules(table).equals(fix_rules(local))


def test_a_rerun_adds_nothing_and_the_index_reads_only_new_files(s3_env, tmp_path, cache_dir):
    url = str(tmp_path / "table")
    root, now = tmp_path / "logs", AS_OF
    for n in range(6):
        write_record(root, log_id=f"a{n}", when=now - timedelta(days=n % 3))
    upload_tree(s3_env, root, "logs", "p")
    assert compact("s3://logs/p", url).added == 6
    rerun = compact("s3://logs/p", url)
    assert (rerun.listed, rerun.added) == (0, 0)
    index = LogIndex("unused", cache_dir, table=url)
    assert index.refresh().files_seen == 6
    more = tmp_path / "more"
    write_record(more, log_id="b1", when=now + timedelta(days=1))  # a new date prefix
    upload_tree(s3_env, more, "logs", "p")
    assert compact("s3://logs/p", url).added == 1
    report = index.refresh()
    assert (report.parsed, report.files_seen) == (1, 7)  # only the new data file was read
    assert index.refresh().changed is False
    DeltaTable(url).delete("log_id = 'a0'")  # a data file rewritten, the old one removed: all is read again
    report = index.refresh()
    assert (report.parsed, report.files_seen) == (6, 6)
    assert "a0" not in set(index.frame("SELECT log_id FROM attempts").log_id)


def test_two_prefixes_have_their_own_watermarks_in_one_table(s3_env, tmp_path):
    url = str(tmp_path / "table")
    for prefix, count in (("host-a", 2), ("host-b", 3)):
        root = tmp_path / prefix
        for n in range(count):
            write_record(root, log_id=f"{prefix}-{n}")
        upload_tree(s3_env, root, "logs", prefix)
    assert compact("s3://logs/host-a", url).added == 2
    assert compact("s3://logs/host-b", url).added == 3
    assert compact("s3://logs/host-a", url).listed == 0  # its marks come from its own last commit
    assert _rows(url) == (5, 5)


def test_an_object_that_is_not_json_is_skipped_and_reported(s3_env, tmp_path):
    url = str(tmp_path / "table")
    root = tmp_path / "logs"
    write_record(root, log_id="ok")
    upload_tree(s3_env, root, "logs", "odd")
    client(s3_env).put_object(Bucket="logs", Key="odd/failures/2025-12-21/bad.json", Body=b"{oops")
    report = compact("s3://logs/odd", url)
    assert (report.added, report.skipped) == (1, 1)
    assert report.skipped_reasons[0][0].endswith("bad.json") and "invalid JSON" in report.skipped_reasons[0][1]
    assert compact("s3://logs/odd", url).listed == 0  # not tried again: objects do not change


def _compactor(url: str) -> subprocess.Popen:
    command = [sys.executable, "analyze_logs.py", "--logs-dir", "s3://logs/big", "compact", "--table", url]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _upload_many(endpoint: str, tmp_path: Path, count: int) -> None:
    root = tmp_path / "many"
    for n in range(count):
        write_record(root, log_id=f"m{n:04d}", when=AS_OF - timedelta(hours=n % 72))
    upload_tree(endpoint, root, "logs", "big")


def test_a_compactor_killed_mid_run_leaves_no_duplicate(s3_env, tmp_path):
    url = str(tmp_path / "table")
    _upload_many(s3_env, tmp_path, 300)
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
        proc = _compactor(url)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    finish = _compactor(url)
    _, err = finish.communicate(timeout=120)
    assert finish.returncode == 0, err
    assert _rows(url) == (300, 300)


def test_two_compactors_at_once_add_each_row_once(s3_env, tmp_path):
    url = "s3://tables/concurrent"
    _upload_many(s3_env, tmp_path, 200)
    procs = [_compactor(url), _compactor(url)]
    results = [proc.communicate(timeout=180) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in results]
    added = [int(out.split()[0]) for out, _ in results]
    assert sum(added) == 200 and _rows(url) == (200, 200)


def test_every_reader_takes_the_table(s3_env, demo_tree, tmp_path, cache_dir, monkeypatch, capsys):
    root, counts = demo_tree
    upload_tree(s3_env, root, "logs", "readers")
    url = str(tmp_path / "table")
    assert cli_main(["--logs-dir", "s3://logs/readers", "compact", "--table", url]) == 0
    assert capsys.readouterr().out.startswith(f"{counts.failures + counts.successes} new attempts merged")
    as_of = AS_OF.isoformat()
    assert cli_main(["--table", url, "--as-of", as_of, "--json", "summary"]) == 0
    from_table = json.loads(capsys.readouterr().out)
    assert cli_main(["--logs-dir", str(root), "--as-of", as_of, "--json", "summary"]) == 0
    assert from_table == json.loads(capsys.readouterr().out)
    api = TestClient(create_app(table_location(url), cache_dir, extra_hosts=("testserver",)))
    body = api.get("/api/logs/summary", params={"as_of": as_of}).json()
    shared = sorted(set(body["summary"]) & set(from_table))
    assert len(shared) >= 5 and all(body["summary"][key] == from_table[key] for key in shared)
    monkeypatch.setenv("FIXTRAIL_TABLE", url)
    at = AppTest.from_file(str(REPO / "dashboard" / "streamlit_app.py"))
    at.run(timeout=60)
    assert not at.exception, [e.message for e in at.exception]
    assert f"{counts.failures + counts.successes} files" in " ".join(str(c.value) for c in at.caption)


def test_an_unreachable_table_is_a_clear_error_then_works_when_back(tmp_path, monkeypatch, cache_dir, capsys):
    with pytest.raises(SourceUnavailable, match="no Delta table at"):
        LogIndex("unused", cache_dir, table=str(tmp_path / "nothing-here")).refresh()
    port = free_port()
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    index = LogIndex("unused", cache_dir, table="s3://tables/down")
    with pytest.raises(SourceUnavailable, match=f"cannot be read: .*endpoint http://127.0.0.1:{port}"):
        index.refresh()
    assert cli_main(["--table", "s3://tables/down", "summary"]) == 1
    assert "error: the Delta table s3://tables/down cannot be read" in capsys.readouterr().err
    root = tmp_path / "logs"
    write_record(root, log_id="back")
    with moto_server(port) as endpoint:
        new_bucket(endpoint, "logs")
        new_bucket(endpoint, "tables")
        upload_tree(endpoint, root, "logs", "down")
        assert compact("s3://logs/down", "s3://tables/down").added == 1
        assert index.refresh().files_seen == 1
    assert cli_main(["--logs-dir", "s3://logs/x", "compact"]) == 1
    assert "compact needs --table" in capsys.readouterr().err


def _table_of_one_row_and_a_secret(endpoint: str, tmp_path: Path) -> tuple[Path, str, DeltaTable]:
    """A table compacted from s3://logs/p (one attempt, a1) and a secret file beside it, outside every tree."""
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"log_id": "stolen", "code": "TOP SECRET", "status": "failed"}))
    root = tmp_path / "logs"
    write_record(root, log_id="a1", session_id="S", when=AS_OF - timedelta(hours=2))
    upload_tree(endpoint, root, "logs", "p")
    url = str(tmp_path / "table")
    assert compact("s3://logs/p", url).added == 1
    return secret, url, DeltaTable(url, storage_options=storage_options(url))


@pytest.mark.parametrize(
    "foreign_path",
    ["{secret}", "s3://other-bucket/secret.json", "s3://logs/other-prefix/secret.json", "s3://logs/p/../x/secret.json"],
)
def test_a_row_naming_a_file_outside_the_compacted_tree_is_refused(s3_env, tmp_path, cache_dir, capsys, foreign_path):
    """Issue 29, item 1: a row appended by another writer with a path outside the tree is not served."""
    import pyarrow as pa
    from deltalake import write_deltalake

    secret, url, table = _table_of_one_row_and_a_secret(s3_env, tmp_path)
    row = table.to_pyarrow_table().to_pylist()[0]
    row.update(log_id="stolen", session_id="stolen", path=foreign_path.replace("{secret}", str(secret)))
    write_deltalake(url, pa.Table.from_pylist([row], schema=table.to_pyarrow_table().schema), mode="append")
    index = LogIndex(table_location(url), cache_dir)
    index.refresh()
    skipped = index.frame("SELECT path, reason FROM skipped_files")
    assert list(skipped["path"]) == [row["path"]]
    assert "outside the trees the table was compacted from (s3://logs/p)" in skipped["reason"][0]
    assert attempt_record(index, "stolen") is None and attempt_record(index, "a1")["log_id"] == "a1"
    assert index.source.read_record(row["path"]) is None
    api = TestClient(create_app(table_location(url), cache_dir, extra_hosts=("testserver",)))
    for route in ("/api/logs/log/stolen", "/api/logs/session/stolen"):
        assert api.get(route).status_code == 404
    assert "TOP SECRET" not in api.get("/api/logs/failures").text + api.get("/api/logs/evals.jsonl").text
    assert cli_main(["--table", url, "session", "stolen"]) == 1
    assert "TOP SECRET" not in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_damaged_data_file_blames_the_table_not_the_cache(s3_env, tmp_path, cache_dir, capsys, damage):
    """Issue 29, item 18: a data file gone or not Parquet is the table's fault, said as such."""
    root = tmp_path / "logs"
    write_record(root, log_id="a1", session_id="S", when=AS_OF - timedelta(hours=2))
    upload_tree(s3_env, root, "logs", "dmg")
    url = str(tmp_path / "table")
    assert compact("s3://logs/dmg", url).added == 1
    data_file = next(Path(url).rglob("*.parquet"))
    if damage == "missing":
        data_file.unlink()
    else:
        data_file.write_bytes(b"not parquet at all")
    assert cli_main(["--table", url, "summary"]) == 1
    err = capsys.readouterr().err
    assert f"the Delta table {url} cannot be read" in err and "cannot use the index" not in err, err


@pytest.mark.parametrize("claimed", ["/", "s3://", "s3://other-bucket"])
def test_a_commit_claiming_another_source_cannot_open_the_door(s3_env, tmp_path, cache_dir, claimed):
    """Whoever can append rows can also write a commit's metadata: only s3:// prefixes with a bucket count,
    local paths never, and a row without a path is left out, not a failed refresh."""
    import pyarrow as pa
    from deltalake import CommitProperties, write_deltalake

    secret, url, table = _table_of_one_row_and_a_secret(s3_env, tmp_path)
    template = table.to_pyarrow_table().to_pylist()[0]
    rows = [
        {**template, "log_id": "stolen", "session_id": "stolen", "path": str(secret)},
        {**template, "log_id": "stolen2", "session_id": "stolen2", "path": "s3://logsx/p/x.json"},
        {**template, "log_id": "pathless", "session_id": "pathless", "path": None},
    ]
    write_deltalake(
        url,
        pa.Table.from_pylist(rows, schema=table.to_pyarrow_table().schema),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={SOURCE_KEY: claimed}),
    )
    index = LogIndex(table_location(url), cache_dir)
    index.refresh()
    assert sorted(index.frame("SELECT log_id FROM attempts")["log_id"]) == ["a1"]
    assert attempt_record(index, "stolen") is None
    assert index.source.read_record(str(secret)) is None
    skipped = set(index.frame("SELECT path FROM skipped_files")["path"])
    assert {str(secret), "s3://logsx/p/x.json"} <= skipped


def test_a_table_compacted_by_an_older_release_gains_the_newer_columns(s3_env, tmp_path, cache_dir):
    """A table whose rows were written before a column existed (``secret_kinds``) is read with that
    column empty, and the next compact adds the column (schema merge) instead of failing."""
    from deltalake import CommitProperties, write_deltalake

    root = tmp_path / "logs"
    write_record(root, log_id="plain", when=AS_OF - timedelta(days=3))
    upload_tree(s3_env, root, "logs", "old")
    current = str(tmp_path / "current-table")
    assert compact("s3://logs/old", current).added == 1
    old_rows = DeltaTable(current).to_pyarrow_table().drop_columns(["secret_kinds"])
    commit = DeltaTable(current).history(1)[0]
    metadata = {SOURCE_KEY: commit[SOURCE_KEY], MARKS_KEY: commit[MARKS_KEY]}
    url = str(tmp_path / "old-table")
    # as an older release left it: the rows and the commit's marks, without the column
    write_deltalake(url, old_rows, partition_by=["day"], commit_properties=CommitProperties(custom_metadata=metadata))
    index = LogIndex("unused", cache_dir, table=url)
    assert index.refresh().files_seen == 1
    read = index.frame("SELECT log_id, secret_kinds FROM attempts")
    assert list(read.log_id) == ["plain"] and read.secret_kinds.isna().all()
    more = tmp_path / "more"
    write_record(more, log_id="leaky", when=AS_OF - timedelta(days=1), stdout="key AKIAZ7Q4XW2M9LK3PT8R here")
    upload_tree(s3_env, more, "logs", "old")
    assert compact("s3://logs/old", url).added == 1
    assert "secret_kinds" in DeltaTable(url).schema().to_arrow().names
    index.refresh()
    kinds = dict(index.frame("SELECT log_id, secret_kinds FROM attempts").itertuples(index=False))
    assert list(kinds["leaky"]) == ["AWS access key"]
    assert list(index.frame("SELECT log_id FROM attempts WHERE secret_kinds IS NULL").log_id) == ["plain"]
