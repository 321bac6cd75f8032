"""analyze_logs.py: the original's commands and look, --json, exit codes, pipes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from loaders.demo.trees import generate_tree
from loaders.store.cache import index_path_for
from tests.conftest import AS_OF
from tests.ports import free_port, port_is_free

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "analyze_logs.py"), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_summary_text_keeps_the_original_labels(small_tree, cache_dir):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "summary")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "=" * 70 in lines and f"{'SCRIPT EXECUTION SUMMARY':^70}" in lines
    assert "Total Failures:            4" in lines
    assert "Unfixed Failures:          1" in lines
    assert "Overall Success Rate:  42.9%" in lines
    assert "Recent Success (7d):   50.0%" in lines
    assert "Recent Attempts (7d):      4" in lines


def test_summary_json(small_tree, cache_dir):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "--json", "summary")
    data = json.loads(result.stdout)
    assert (data["total_failures"], data["fixed_failures"], data["sessions"], data["skipped_files"]) == (4, 3, 4, 0)
    assert data["recent_success_rate_7d"] == 50.0


@pytest.mark.parametrize("command", ["errors", "recommendations", "unfixed", "all", "context"])
def test_commands_run(small_tree, cache_dir, command):
    result = run_cli("--logs-dir", str(small_tree), command)
    assert result.returncode == 0, result.stderr
    assert "=" * 70 in result.stdout


def test_recommendations_once_stored_print_without_pandas_and_match_the_full_report(demo_tree, cache_dir):
    """The second `recommendations` reads the stored sections: no pandas, no window, the same answer."""
    root, _ = demo_tree
    first = run_cli("--logs-dir", str(root), "--json", "recommendations")
    assert first.returncode == 0, first.stderr
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['analyze_logs.py', '--logs-dir', sys.argv[1], '--json', 'recommendations']\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0] if False else 'analyze_logs.py', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "print('PANDAS' if 'pandas' in sys.modules else 'NO-PANDAS', file=sys.stderr)\n"
    )
    second = subprocess.run(
        [sys.executable, "-c", probe, str(root)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert second.stderr.strip().endswith("NO-PANDAS")
    assert json.loads(second.stdout) == json.loads(first.stdout)
    report = json.loads(run_cli("--logs-dir", str(root), "--json", "all").stdout)
    stored = json.loads(first.stdout)
    assert set(stored) == {"recommendations", "fix_rules", "ai_learning_summary"}
    assert stored["fix_rules"], "the demo tree has fix rules: the comparison must not be of empty lists"
    assert all(stored[key] == report[key] for key in stored)


def test_session_history(small_tree, cache_dir):
    result = run_cli("--logs-dir", str(small_tree), "session", "S1")
    assert "Attempts: 3" in result.stdout
    lines = result.stdout.splitlines()
    assert "1. FAILED" in lines and "3. SUCCESS" in lines
    assert "   Time: 2025-12-11T12:00:00.000000" in lines  # as the record writes it
    assert "   Error: name 'x' is not defined" in lines  # without the runner's prefix
    assert "Created: 2025-12-21T12:00:00.000000" in lines


def test_no_arguments_prints_the_help_and_exits_1():
    result = run_cli()
    assert result.returncode == 1
    assert result.stdout.startswith("usage: analyze_logs.py") and "Commands are case-insensitive" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["SUMMARY", "--json", "--logs-dir", "{logs}", "--as-of", "{as_of}"],
        ["--logs-dir", "{logs}", "Summary", "--as-of", "{as_of}", "--json"],
        ["--json", "summary", "--logs-dir", "{logs}", "--as-of", "{as_of}", "--sessions", "linked"],
        ["--logs-dir", "/no/such/dir", "summary", "--logs-dir", "{logs}", "--json", "--as-of", "{as_of}"],
    ],
)
def test_commands_are_case_insensitive_and_take_options_after_them(small_tree, cache_dir, args):
    argv = [arg.format(logs=small_tree, as_of=AS_OF.isoformat()) for arg in args]
    result = run_cli(*argv)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_failures"] == 4


def test_unfixed_with_the_logs_dir_after_it(small_tree, cache_dir):
    result = run_cli("UNFIXED", "--logs-dir", str(small_tree), "--json")
    assert result.returncode == 0, result.stderr
    assert [row["log_id"] for row in json.loads(result.stdout)] == ["s2-a1"]
    assert json.loads(result.stdout)[0]["timestamp"] == (AS_OF - timedelta(days=2)).isoformat(timespec="microseconds")


def test_export_writes_the_report(small_tree, cache_dir, tmp_path):
    target = tmp_path / "out.json"
    result = run_cli("--logs-dir", str(small_tree), "export", str(target))
    assert result.returncode == 0
    assert json.loads(target.read_text())["summary"]["total_failures"] == 4


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--logs-dir", "/no/such/dir", "summary"], 1, "error: log directory not found"),
        (["session", "nope"], 1, "error: session not found: nope"),
        (["bogus"], 2, "invalid choice"),
        (["--as-of", "yesterday", "summary"], 2, "not an ISO 8601 time"),
    ],
)
def test_exit_codes(small_tree, cache_dir, args, code, message):
    if args[0] != "--logs-dir":
        args = ["--logs-dir", str(small_tree), *args]
    result = run_cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "as_of",
    ["0001-01-01", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00+05:00", "3000-01-01"],
)
def test_times_outside_the_calendar_are_a_usage_error(small_tree, cache_dir, as_of):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", as_of, "summary")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"analyze_logs.py: error: argument --as-of: not a time from 1900-01-01 to 2999-12-31: {as_of!r}"
    )
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("as_of", ["1900-01-01", "1900-01-01T00:00:00+14:00", "2999-12-31T23:59:59.999999-12:00"])
@pytest.mark.parametrize("output", [[], ["--json"]])
def test_times_at_the_edges_of_the_range_work_in_every_section(small_tree, cache_dir, as_of, output):
    result = run_cli("--logs-dir", str(small_tree), "--as-of", as_of, *output, "all")
    assert result.returncode == 0, result.stderr
    if output:
        assert json.loads(result.stdout)["summary"]["total_failures"] == 4
    else:
        assert "Total Failures:            4" in result.stdout.splitlines()


def _fill_the_disk(logs: Path, cache: Path) -> tuple[Path, object]:
    """A full disk: the index's write-ahead log is /dev/full, where every write fails with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    cache.mkdir(parents=True)
    wal = Path(str(index_path_for(logs.resolve(), cache.resolve())) + ".wal")
    wal.symlink_to("/dev/full")
    return cache, wal.unlink


def _directory_at_the_index_path(logs: Path, cache: Path) -> tuple[Path, object]:
    index_file = index_path_for(logs.resolve(), cache.resolve())
    index_file.mkdir(parents=True)
    return cache, index_file.rmdir


def _file_in_place_of_the_cache_parent(logs: Path, cache: Path) -> tuple[Path, object]:
    cache.parent.mkdir(parents=True, exist_ok=True)
    blocker = cache.parent / "blocker"
    blocker.write_text("not a directory")
    return blocker / "cache", blocker.unlink


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (_fill_the_disk, "No space left on device"),
        (_directory_at_the_index_path, "Is a directory"),
        (_file_in_place_of_the_cache_parent, "Not a directory"),
    ],
)
def test_an_unwritable_index_is_one_line_saying_where_and_why(small_tree, tmp_path, monkeypatch, cause, reason):
    cache, remove_cause = cause(small_tree, tmp_path / "cache")
    monkeypatch.setenv("FIXTRAIL_CACHE_DIR", str(cache))
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "summary")
    assert result.returncode == 1
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot use the index in {cache.resolve()}: ")
    assert reason in result.stderr and "FIXTRAIL_CACHE_DIR" in result.stderr
    remove_cause()
    result = run_cli("--logs-dir", str(small_tree), "--as-of", AS_OF.isoformat(), "--json", "summary")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_failures"] == 4


def test_pipe_into_head_does_not_raise(tmp_path, cache_dir):
    root = tmp_path / "logs"
    generate_tree(root, sessions=800, days=10, seed=3)  # its unfixed list is far larger than a pipe's buffer
    pipeline = subprocess.run(
        f"{sys.executable} {ROOT / 'analyze_logs.py'} --logs-dir {root} --json unfixed | head -3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(pipeline.stdout.splitlines()) == 3
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _websocket_answer(port: int, host: str) -> str:
    """The status line the dashboard answers a WebSocket handshake naming ``host`` with."""
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("ascii"))
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_dashboard_is_warmed_up_before_its_first_visit(small_tree, cache_dir, tmp_path):
    """`python -m dashboard.serve` (what `make run` starts) runs the app once without a browser: the
    index is built and the warm-up reported before anyone visits."""
    port = free_port()
    log = tmp_path / "serve.err"
    index_file = index_path_for(small_tree.resolve(), cache_dir.resolve())
    with log.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "dashboard.serve", "--server.port", str(port), "--", "--logs-dir", str(small_tree)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 90
        while "Fixtrail dashboard: warmed up in" not in log.read_text(errors="replace"):
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "no warm-up reported: " + log.read_text(errors="replace")
            time.sleep(0.2)
        assert index_file.exists(), "the warm-up run opened the index"
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=5).text == "ok"
    finally:
        server.terminate()
        server.wait(30)
    said = log.read_text(errors="replace")
    assert "Traceback" not in said and "No runtime found" not in said, said


def test_ctrl_c_while_duckdb_runs_a_query_exits_quietly(small_tree, cache_dir):
    """DuckDB turns Ctrl-C during a query into a RuntimeError, not KeyboardInterrupt: the CLI exits
    with 130 and no traceback, as for a Ctrl-C anywhere else (the report's sections run queries while
    the fix rules' thread waits for the parse workers)."""
    command = (
        "import signal, sys\n"
        # A process started with SIGINT ignored (a job put in the background by a script, as a CI
        # runner may be) passes that on, and Python then keeps ignoring it: Ctrl-C as in a terminal.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import cli.main as cli\n"
        "def endless_query(args, index):\n"
        "    cursor = index.cursor()\n"
        # One thread: the query's one endless task then runs on the main thread, which checks for
        # Ctrl-C between chunks. When a worker thread took it, DuckDB's cancel waited for the task
        # for good (about one run in three hung, the main thread in Executor::CancelTasks): a scan
        # of range() never ends, where a query over the index's tables ends on its own.
        "    cursor.execute('SET threads = 1')\n"
        "    print('querying', file=sys.stderr, flush=True)\n"
        "    cursor.execute('SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3').fetchall()\n"
        "cli.run_command = endless_query\n"
        f"raise SystemExit(cli.main(['--logs-dir', {str(small_tree)!r}, 'summary']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stderr.readline().strip() == "querying"
        time.sleep(0.3)  # inside DuckDB by now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == "", err


def test_ctrl_c_during_the_warm_up_load_stops_at_once_without_a_traceback(tmp_path, cache_dir):
    """Ctrl-C reaches the whole process group, parse workers included, in the middle of a first load:
    the server stops within seconds (it does not wait for the load), and nothing prints a traceback."""
    logs = tmp_path / "logs"
    generate_tree(logs, sessions=3000, days=20, seed=5)
    log = tmp_path / "serve.err"
    with log.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "dashboard.serve", "--server.port", str(free_port()), "--", "--logs-dir", str(logs)],
            stdout=err,
            stderr=err,
            cwd=ROOT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    try:
        deadline = time.monotonic() + 90
        # Once the server has said where it is, and the warm-up's first load has started its workers.
        while "You can now view" not in log.read_text(errors="replace") or not (workers := _children(server.pid)):
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "no parse worker ever started"
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGINT)
        stopping = time.monotonic()
        server.wait(30)
        assert time.monotonic() - stopping < 15, "the server waited for the load"
        deadline = time.monotonic() + 20
        while any(_running(pid) for pid in workers):
            assert time.monotonic() < deadline, "a parse worker outlived the server"
            time.sleep(0.2)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    said = log.read_text(errors="replace")
    assert "Stopping..." in said
    assert "Traceback" not in said and "Error" not in said, said


def test_dashboard_command_serves_the_tree_and_stops_with_its_server(small_tree, cache_dir, tmp_path):
    """The dashboard answers only local host names, and SIGTERM to the CLI stops Streamlit too."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "analyze_logs.py"),
            "--logs-dir",
            str(small_tree),
            "dashboard",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,  # away from the project's .streamlit/config.toml: the command itself must set what matters
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the dashboard did not start"
            time.sleep(0.3)
        children = _children(server.pid)
        assert children, "the dashboard runs in a child process"
        assert _websocket_answer(port, f"127.0.0.1:{port}").startswith("HTTP/1.1 101")
        assert _websocket_answer(port, f"localhost:{port}").startswith("HTTP/1.1 101")
        assert _websocket_answer(port, "evil.example").startswith("HTTP/1.1 403")
        assert _websocket_answer(port, f"evil.example:{port}").startswith("HTTP/1.1 403")

        server.send_signal(signal.SIGTERM)
        server.wait(30)
        assert not [pid for pid in children if _running(pid)], "Streamlit outlived the CLI"
        assert port_is_free(port)
    finally:
        for pid in [server.pid, *children]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        server.wait(20)


def _readme_commands() -> list[tuple[str, str]]:
    """The ``$ ...`` commands of the README's examples (comments dropped), each with the line after it."""
    lines = [*(ROOT / "README.md").read_text(encoding="utf-8").splitlines(), ""]
    return [
        (line[2:].split("#")[0].strip(), lines[number + 1])
        for number, line in enumerate(lines[:-1])
        if line.startswith("$ ")
    ]


# The original's commands print its 70-character rules; Fixtrail's mark, check and export-evals a line.
RULED = ("summary", "errors", "recommendations", "unfixed", "session", "context", "all", "compare", "markers")


def test_readme_examples_run_as_written_with_the_virtualenv(cache_dir, tmp_path):
    commands = _readme_commands()
    assert commands and all(command.startswith(".venv/bin/python analyze_logs.py ") for command, _ in commands)
    # From a copy of the clone's demo tree, so that mark and export-evals leave the clone alone.
    shutil.copytree(ROOT / "logs", tmp_path / "logs", ignore=shutil.ignore_patterns("analysis"))
    for command, shown in commands:
        # As written; this interpreter stands for .venv/bin/python (the same one under make).
        words = shlex.split(command)
        argv = [sys.executable, str(ROOT / words[1]), *words[2:]]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        found = shown.startswith("Fixtrail: ") and "new alert" in shown  # check exits 1 when it found something
        assert result.returncode == (1 if found else 0), (command, result.stderr)
        if any(word in RULED for word in words[2:]):
            assert "=" * 70 in result.stdout, command
        else:
            assert result.stdout.splitlines()[0].split(" /")[0] == shown.split(" /")[0], command


def test_no_progress_bar_reaches_standard_output(small_tree, cache_dir):
    # DuckDB draws one on stdout for queries over 2 s (a first load of 100,000 sessions): --json must
    # stay JSON. The setting is read in a process of its own (pytest's captured output turns it off).
    script = (
        "import sys\nfrom loaders.store.index import LogIndex\n"
        "setting = \"SELECT current_setting('enable_progress_bar')\"\n"
        "for in_memory in (False, True):\n"
        "    with LogIndex(sys.argv[1], sys.argv[2], in_memory=in_memory) as index:\n"
        "        print(index.cursor().execute(setting).fetchone()[0])\n"
        "        with index.index_file() as connection:\n"
        "            print(connection.execute(setting).fetchone()[0])\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", script, str(small_tree), str(cache_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert probe.stdout.split() == ["False"] * 4, probe.stdout + probe.stderr


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_json_session_stands_in_for_a_record_that_cannot_be_read_any_more(small_tree, cache_dir):
    assert run_cli("--logs-dir", str(small_tree), "summary").returncode == 0
    success = next(small_tree.glob("successes/*/s1-a3.json"))
    stamp = success.stat()
    # Damaged in place, its size and mtime kept: the index cannot tell, reading the record fails.
    success.write_bytes(b"x" * stamp.st_size)
    os.utime(success, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    result = run_cli("--logs-dir", str(small_tree), "--json", "session", "S1")
    assert result.returncode == 0, result.stderr
    attempts = json.loads(result.stdout, parse_constant=_no_constant)["attempts"]  # strict JSON: no NaN
    assert [attempt["log_id"] for attempt in attempts] == ["s1-a1", "s1-a2", "s1-a3"]
    assert "record_unreadable" not in attempts[0] and attempts[0]["code"]
    stand_in = attempts[2]
    assert stand_in["status"] == "success" and stand_in["session_id"] == "S1"
    assert stand_in["error_type"] is None and stand_in["fixed_by"] is None
    assert stand_in["path"] == str(success) and "cannot be read" in stand_in["record_unreadable"]
    assert stand_in["timestamp"].startswith(str((AS_OF - timedelta(days=10)).date()))
