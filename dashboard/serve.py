"""Start the dashboard's Streamlit server, warmed up before its first visitor.

Run: ``python -m dashboard.serve [streamlit options] -- --logs-dir DIR`` (``make run`` and
``analyze_logs.py dashboard`` do). It is ``streamlit run dashboard/streamlit_app.py`` in this
process, plus two things. As soon as the server answers, the app's script is run without a
browser (Streamlit's script health check, a session of its own that is then closed): the imports,
the index's in-memory copy and the Overview's numbers are then ready, and so are the other pages'
(dashboard.warm_up, which that run starts); a first visit after a start costs about what a repeat
visit does (the Overview's 4.1 -> 2.0 s at 20,000 sessions, `make bench`). And once the server
stops listening (Ctrl-C), the process ends within seconds instead of waiting for a first load
still running. ``streamlit run dashboard/streamlit_app.py`` still works;
its first visit does that work instead.

It refuses to start (one line on stderr, status 2) when it would listen beyond loopback with nothing
guarding the logs: no sign-in configured and no ``--no-auth`` (``FIXTRAIL_NO_AUTH=1``); see
dashboard.auth. ``$FIXTRAIL_SECRETS_FILE`` is handed to Streamlit as ``--secrets.files``. With
sign-in on, the warm-up run stops at the sign-in screen: the first signed-in visit loads the index.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from api.hosts import ANY_ADDRESS
from dashboard.auth import SECRETS_FILE_ENV, exposure_refusal
from loaders.core.files import UnreadableFile, read_any_file

APP = Path(__file__).resolve().with_name("streamlit_app.py")
START_TIMEOUT_SECONDS = 120.0  # the warm-up gives up if the server has not answered by then
SCRIPT_TIMEOUT_SECONDS = 900.0  # a first load of a big tree builds its index during the warm-up runs
STOP_GRACE_SECONDS = 3.0  # after the server stops listening, for Streamlit to stop by itself
WARM_UP_MESSAGE = "Fixtrail dashboard:"  # starts the line printed (stderr) once the warm-up run has ended
# The health check runs the warm-up. Streamlit's full garbage collection after every script run
# (runner.postScriptGC) holds the interpreter for 0.1 s at 100,000 sessions (the cached results'
# objects), while the run's last messages wait to be sent: every page visit waited for it. Python
# collects garbage by itself, and memory is given back after each run (dashboard.memory).
SERVER_OPTIONS = ("--server.scriptHealthCheckEnabled", "true", "--runner.postScriptGC", "false")
CONFIG_MAX_BYTES = 1 << 20


def main(argv: list[str] | None = None) -> int:
    """Run Streamlit's ``run`` command on the app with ``argv``; warm the server up in a thread.

    Returns 2, having said why on stderr, when the address is beyond loopback and unguarded."""
    options = sys.argv[1:] if argv is None else argv
    if os.environ.get(SECRETS_FILE_ENV) and not option_values(options, "--secrets.files"):
        options = ["--secrets.files", os.environ[SECRETS_FILE_ENV], *options]
    refusal = exposure_refusal(
        listen_address(options),
        files=option_values(options, "--secrets.files"),
        names=option_values(options, "--server.allowedHosts"),
    )
    if refusal:
        print(refusal, file=sys.stderr, flush=True)
        return 2
    threading.Thread(target=warm_up, name="fixtrail-warm-up", daemon=True).start()
    threading.Thread(target=watch_for_stop, name="fixtrail-stop-watch", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *SERVER_OPTIONS, *options]
    try:
        cli.main()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def option_values(options: list[str], name: str) -> list[str]:
    """The values given to Streamlit's option ``name`` (``--name VALUE`` or ``--name=VALUE``), before ``--``."""
    values = []
    for position, option in enumerate(options):
        if option == "--":
            break
        if option == name and position + 1 < len(options):
            values.append(options[position + 1])
        elif option.startswith(f"{name}="):
            values.append(option.split("=", 1)[1])
    return values


def listen_address(options: list[str]) -> str | None:
    """The address Streamlit will listen on, found as it finds it: the last ``--server.address``,
    else $STREAMLIT_SERVER_ADDRESS, else ``server.address`` of the config.toml files (the app's
    directory, then the current one, then ~/.streamlit); None when none sets it (every interface) or
    one cannot be read (Streamlit would not start: the check fails closed)."""
    given = option_values(options, "--server.address")
    if given:
        return given[-1]
    if "STREAMLIT_SERVER_ADDRESS" in os.environ:
        return os.environ["STREAMLIT_SERVER_ADDRESS"]
    for folder in (APP.parent, Path.cwd(), Path.home()):
        try:
            text = read_any_file(folder / ".streamlit" / "config.toml", CONFIG_MAX_BYTES).decode("utf-8")
            address = tomllib.loads(text).get("server", {}).get("address")
        except FileNotFoundError:
            continue
        except (UnreadableFile, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            return None
        if address is not None:
            return str(address)
    return None


def watch_for_stop() -> None:
    """Once the server has stopped listening (Ctrl-C, SIGTERM), give Streamlit STOP_GRACE_SECONDS to
    stop, then end the process (``leave``): stopped in the middle of a first load, Streamlit would
    wait for that script run to end. Only a refused connection counts, never a slow answer."""
    address = None
    refused = 0
    while refused < 2:
        time.sleep(0.5)
        if address is None:
            address = server_address()
            continue
        try:
            with socket.create_connection(address, timeout=5):
                refused = 0
        except ConnectionRefusedError:
            refused += 1
        except OSError:
            refused = 0
    time.sleep(STOP_GRACE_SECONDS)
    leave(0)


def leave(status: int) -> None:
    """End the process once the server has stopped, without waiting for a script run still going.

    Stopped by Ctrl-C in the middle of a first load (the warm-up's, or a visitor's), Streamlit waits
    for that run to end, which can take minutes on a big tree. The index is written in transactions
    (a load cut short is finished by the next one) and the parse workers end when their input
    closes, so nothing is lost by not waiting.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def warm_up() -> None:
    """Once this process's Streamlit server answers, run the app's script (_warm_up_run) and say so on
    stderr. What the run answers is only reported: a tree that cannot be read is shown on the page."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        url = server_url()
        if url is not None and _answer(f"{url}/_stcore/health", 5) == "ok":
            # Imported once Streamlit's runtime runs: its cached functions made before would print a
            # "No runtime found" warning at every start.
            from dashboard import warm_up as pages

            pages.enable()
            started = time.monotonic()
            answer = _warm_up_run(url)
            pages.wait(SCRIPT_TIMEOUT_SECONDS)  # the other pages' results (dashboard.warm_up)
            outcome = "warmed up" if answer == "ok" else f"warm-up run ended without finishing ({answer})"
            print(f"  {WARM_UP_MESSAGE} {outcome} in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
            return
        time.sleep(0.1)


def _warm_up_run(url: str) -> str:
    """Run the app's script through the health check until it finishes: Streamlit gives up on one run
    after a minute ("timeout"), and a first load of a big tree can take longer; the next run waits
    for the index the last one was building. Returns the last answer ("ok", "error", "timeout", ...)."""
    answer = "timeout"
    deadline = time.monotonic() + SCRIPT_TIMEOUT_SECONDS
    while answer == "timeout" and time.monotonic() < deadline:
        answer = _answer(f"{url}/_stcore/script-health-check", SCRIPT_TIMEOUT_SECONDS)
    return answer


def server_address() -> tuple[str, int] | None:
    """The (host, port) this process's Streamlit server listens on, as reached from here (a server
    bound to every interface is reached on loopback), or None while it has not started.

    Read only once the runtime has started, when the command line's options are in force (before
    that, the port would be the default one, maybe another dashboard's).
    """
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.runtime.runtime import RuntimeState

    if not Runtime.exists() or Runtime.instance().state == RuntimeState.INITIAL:
        return None
    host = config.get_option("server.address") or ""
    if host in ANY_ADDRESS:
        host = "::1" if ":" in host else "127.0.0.1"
    return host, int(config.get_option("server.port"))


def server_url() -> str | None:
    """The URL of this process's Streamlit server (see server_address), or None while it has not started."""
    from streamlit import config

    address = server_address()
    if address is None:
        return None
    host, port = address
    host = f"[{host}]" if ":" in host else host
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    scheme = "https" if config.get_option("server.sslCertFile") else "http"
    return f"{scheme}://{host}:{port}" + (f"/{base}" if base else "")


# Never through $http_proxy; our own server's certificate (often self-signed) is not checked.
_OWN_SERVER_TLS = ssl.create_default_context()
_OWN_SERVER_TLS.check_hostname = False
_OWN_SERVER_TLS.verify_mode = ssl.CERT_NONE
_DIRECT = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_OWN_SERVER_TLS)
)


def _answer(url: str, timeout: float) -> str:
    """What ``url`` answers (its text, 503 included) within ``timeout`` seconds, or why it did not."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.read(100).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.read(100).decode("utf-8", "replace") or f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return type(exc).__name__


if __name__ == "__main__":
    leave(main())
