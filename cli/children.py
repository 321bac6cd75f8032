"""The servers the CLI starts (``dashboard``, ``serve``), run as children that never outlive it.

SIGTERM or SIGINT to the CLI is passed on to the child, which gets CHILD_STOP_SECONDS to stop before
it is killed. On Linux the child also asks the kernel to send it SIGTERM when the CLI dies, even by
SIGKILL, which no handler sees (``prctl(PR_SET_PDEATHSIG)``): a killed CLI never leaves a server
holding its port.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# After forwarding SIGTERM or SIGINT, how long the dashboard's server gets to stop before it is killed.
CHILD_STOP_SECONDS = 10
PR_SET_PDEATHSIG = 1


def launch_server(args: argparse.Namespace, logs_dir: Path) -> int:
    if args.command == "serve":
        from api.server import serve

        return serve(logs_dir, args.host, args.port, args.allowed_host, no_auth=args.no_auth)
    from api.hosts import allowed_hosts
    from dashboard.auth import NO_AUTH_ENV, exposure_refusal

    # Set here as well as in .streamlit/config.toml, which Streamlit reads only from the current directory.
    names = allowed_hosts(args.host, args.allowed_host)
    refusal = exposure_refusal(args.host, no_auth=args.no_auth, names=names)  # the check dashboard.serve makes
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    hosts = [option for name in names for option in ("--server.allowedHosts", name)]
    command = [
        sys.executable,
        "-m",
        "dashboard.serve",  # streamlit run, warmed up before the first visit
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        *hosts,
        "--",
        "--logs-dir",
        str(logs_dir),
    ]
    # The dashboard puts its "no sign-in" banner on every page when told so.
    return run_child(command, {**os.environ, NO_AUTH_ENV: "1"} if args.no_auth else None)


def run_child(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``command`` until it exits; SIGTERM or SIGINT to this process stops it too. Returns its status.

    ``env``: the child's environment (None: this process's).

    The signal is passed on to the child, which gets CHILD_STOP_SECONDS to stop before it is killed:
    stopping the CLI never leaves a server behind holding its port.
    """
    stop_asked: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        stop_asked.append(time.monotonic())
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    child: subprocess.Popen | None = None
    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        child = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent(os.getpid()))
        if stop_asked:  # a signal came before the child existed
            child.terminate()
        while True:
            try:
                status = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stop_asked and time.monotonic() - stop_asked[0] > CHILD_STOP_SECONDS:
                    child.kill()
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status


def _die_with_parent(parent: int):
    """What the child runs before its program (Linux): SIGTERM when ``parent`` dies; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arrange
