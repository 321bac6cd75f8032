"""Start the dashboard's Streamlit server, warmed up before its first visitor.

Run: ``python -m dashboard.serve [streamlit options] -- --logs-dir DIR`` (``make run`` and
``analyze_logs.py dashboard`` do). It is ``streamlit run dashboard/streamlit_app.py`` in this
process, plus one thing: as soon as the server answers, the app's script is run once without a
browser (Streamlit's script health check, a session of its own that is then closed). The imports,
the index's in-memory copy and the Overview's numbers are then ready, and a first visit after a
start costs about what a repeat visit does (3.6 -> 2.4 s at 20,000 sessions, `make bench`).
``streamlit run dashboard/streamlit_app.py`` still works; its first visit does that work instead.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().with_name("streamlit_app.py")
START_TIMEOUT_SECONDS = 120.0  # the warm-up gives up if the server has not answered by then
SCRIPT_TIMEOUT_SECONDS = 600.0  # a first load of a big tree builds its index during the warm-up run
WARM_UP_MESSAGE = "Fixtrail dashboard:"  # starts the line printed (stderr) once the warm-up run has ended


def main(argv: list[str] | None = None) -> int:
    """Run Streamlit's ``run`` command on the app with ``argv``; warm the server up in a thread."""
    options = sys.argv[1:] if argv is None else argv
    threading.Thread(target=warm_up, name="fixtrail-warm-up", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), "--server.scriptHealthCheckEnabled", "true", *options]
    try:
        cli.main()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def warm_up() -> None:
    """Once this process's Streamlit server answers, run the app's script once (its answer is ignored:
    a tree that cannot be read is shown on the page the visitor opens)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        url = server_url()
        if url is not None and _answers(f"{url}/_stcore/health", 5):
            started = time.monotonic()
            ran = _answers(f"{url}/_stcore/script-health-check", SCRIPT_TIMEOUT_SECONDS)
            outcome = "warmed up" if ran else "warm-up run did not finish cleanly"
            print(f"  {WARM_UP_MESSAGE} {outcome} in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
            return
        time.sleep(0.1)


def server_url() -> str | None:
    """The loopback URL of this process's Streamlit server, or None while it is not created yet.

    Read only once the runtime has started, when the command line's options are in force (before
    that, the port would be the default one, maybe another dashboard's).
    """
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.runtime.runtime import RuntimeState

    if not Runtime.exists() or Runtime.instance().state == RuntimeState.INITIAL:
        return None
    address = config.get_option("server.address") or "127.0.0.1"
    address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)  # noqa: S104 (a server bound to all)
    host = f"[{address}]" if ":" in address else address
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{host}:{config.get_option('server.port')}" + (f"/{base}" if base else "")


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through $http_proxy


def _answers(url: str, timeout: float) -> bool:
    """True when ``url`` answers 200 ``ok`` within ``timeout`` seconds."""
    with contextlib.suppress(OSError, ValueError), _DIRECT.open(url, timeout=timeout) as response:
        return response.status == 200 and response.read() == b"ok"
    return False


if __name__ == "__main__":
    raise SystemExit(main())
