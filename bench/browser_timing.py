"""Times the dashboard's pages in a real browser: `make run`'s server and Debian's Chromium driven by Playwright.

Usage: python -m bench.browser_timing LOGS_DIR RUNS  (prints JSON; FIXTRAIL_CACHE_DIR is passed on,
the index is expected warm)

A page is "fully drawn" once, for SETTLE_SECONDS without a break: the script has finished (the
app's ``data-test-script-state`` is ``notRunning`` and the status widget is gone), the page's title
is a visible heading, no element is stale or still a loading skeleton, the page's charts and grids
are there (where it has them) and every visible one has drawn its canvas. A visit's time runs from
navigation start (the page's ``performance.timeOrigin``) to the start of that quiet period. (The
status widget alone would not do: Streamlit shows it only once a run has lasted 500 ms, and charts
and grids are still loading their code after the run has ended.)

Measured: the first visit of each page right after a server (re)start, the repeat visits (median
of RUNS), the Overview with ``?model=NAME`` (a model not asked for before, then the same URL again),
a model picked in the Overview's sidebar filter on a restarted server (a rerun: from the pick until
the page is drawn again), the server's resident memory (VmRSS after the visits, VmHWM: its
peak), and the peak of a server started on a tree it has no index of (``server_mib_new_tree``:
it builds the index, copies it into memory and works every page's results out as it warms up).
``script_done`` holds, for the same visits, when the script's last run ended: what follows
is the browser loading and drawing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.api_timing import free_port
from dashboard.serve import WARM_UP_MESSAGE

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# (title, URL slug, has charts, has grids): the pages of dashboard/streamlit_app.py
PAGES: tuple[tuple[str, str, bool, bool], ...] = (
    ("Overview", "", True, True),
    ("Errors", "errors", True, True),
    ("Unfixed failures", "unfixed", False, True),
    ("Sessions", "sessions", False, True),
    # Compare starts empty: visited with two cohorts in its address, as a shared comparison opens
    ("Compare", "compare?a=status%3Dfailed&b=status%3Dsuccess", False, True),
    ("Recommendations", "recommendations", False, False),
    ("Data health", "health", False, False),
)
DASHBOARD_SERVER = (sys.executable, "-m", "dashboard.serve")  # as `make run` starts it
SETTLE_SECONDS = 0.5
VISIT_TIMEOUT_MS = 300_000
# Polled on every animation frame; once the quiet period has lasted, returns [its start, when the script's
# last run ended] (ms since navigation start).
DRAWN = """([title, charts, grids, settleMs]) => {
  const state = window.__fixtrailBench || (window.__fixtrailBench = {since: null, scriptDone: null});
  const now = performance.now();
  const visible = (el) => el.offsetParent !== null;
  const all = (selector) => [...document.querySelectorAll(selector)];
  const app = document.querySelector('[data-testid="stApp"]');
  const chartEls = all('[data-testid="stVegaLiteChart"]').filter(visible);
  const gridEls = all('[data-testid="stDataFrame"]').filter(visible);
  const scriptDone = app !== null && app.getAttribute("data-test-script-state") === "notRunning";
  state.scriptDone = scriptDone ? (state.scriptDone ?? now) : null;
  const drawn =
    scriptDone &&
    document.querySelector('[data-testid="stStatusWidget"]') === null &&
    all("h1").some((h) => visible(h) && h.textContent.trim() === title) &&
    document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]') === null &&
    (!charts || chartEls.length > 0) && (!grids || gridEls.length > 0) &&
    chartEls.every((el) => el.querySelector("canvas, svg") !== null) &&
    gridEls.every((el) => el.querySelector("canvas") !== null);
  if (!drawn) {
    state.since = null;
    return false;
  }
  if (state.since === null) state.since = now;
  return now - state.since >= settleMs ? [state.since, state.scriptDone] : false;
}"""


@contextlib.contextmanager
def dashboard(logs: str, port: int, cache_dir: str | None = None) -> Iterator[subprocess.Popen]:
    """The dashboard as ``make run`` starts it, on ``port``, until the block ends (environment passed on,
    ``cache_dir`` as its index's directory if given); yields it once it has warmed up."""
    env = {**os.environ, "FIXTRAIL_CACHE_DIR": cache_dir} if cache_dir else None
    with tempfile.TemporaryFile("a+b") as err:  # appended to: reading it moves no write position
        server = subprocess.Popen(
            [*DASHBOARD_SERVER, "--server.headless", "true", "--server.port", str(port), "--", "--logs-dir", logs],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", server, err)
            wait_warmed_up(server, err)
            yield server
        finally:
            server.terminate()
            server.wait(30)


def wait_healthy(url: str, server: subprocess.Popen, err: Any, limit: float = 120) -> None:
    """Return once Streamlit's health check answers; raise with its stderr if it exits or ``limit`` passes."""
    deadline = time.monotonic() + limit
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/_stcore/health", timeout=5).text == "ok":
                return
        if time.monotonic() > deadline or server.poll() is not None:
            err.seek(0)
            raise RuntimeError(f"streamlit did not start: {err.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.2)


def wait_warmed_up(server: subprocess.Popen, err: Any, limit: float = 600) -> None:
    """Return once the server reports its warm-up run ended (dashboard.serve): a user opening the
    dashboard after `make run` says it is ready finds it so."""
    deadline = time.monotonic() + limit
    while True:
        err.seek(0)
        said = err.read().decode(errors="replace")
        if WARM_UP_MESSAGE in said:
            return
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError(f"the dashboard never reported its warm-up: {said[-2000:]}")
        time.sleep(0.1)


def drawn_seconds(page: Any, url: str, title: str, charts: bool, grids: bool) -> tuple[float, float]:
    """Open ``url``: the seconds from navigation start until the page is fully drawn, and until the
    script's last run ended (the rest is the browser's: loading and drawing charts and grids)."""
    page.goto(url, wait_until="commit")
    try:
        handle = page.wait_for_function(
            DRAWN, arg=[title, charts, grids, SETTLE_SECONDS * 1000], polling="raf", timeout=VISIT_TIMEOUT_MS
        )
    except Exception as exc:
        main = page.locator('[data-testid="stMain"]')
        shown = main.inner_text()[:500] if main.count() else page.content()[:500]
        raise RuntimeError(f"{url} was never fully drawn; it shows: {shown!r}") from exc
    drawn, script = handle.json_value()
    return drawn / 1000, script / 1000


def visit(page: Any, base: str, spec: tuple[str, str, bool, bool], query: str = "") -> tuple[float, float]:
    """drawn_seconds of one page of PAGES (``spec``), with ``query`` after its URL."""
    title, slug, charts, grids = spec
    return drawn_seconds(page, f"{base}/{slug}{query}", title, charts, grids)


def leave(page: Any) -> None:
    """Close the page's Streamlit session (a page left open would reconnect to a restarted server)."""
    page.goto("about:blank")


def memory_mib(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"steady": int(fields["VmRSS"].split()[0]) / 1024, "peak": int(fields["VmHWM"].split()[0]) / 1024}


def models_of(logs: str) -> list[str]:
    """The models the tree's attempts name (the sidebar's choices)."""
    from loaders.analysis.metrics import filter_choices
    from loaders.store.index import open_index

    with open_index(logs, in_memory=False) as index:
        return filter_choices(index)["models"]


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """The median of each element of the samples."""
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def first_visits(page: Any, logs: str, port: int) -> dict[str, tuple[float, float]]:
    """Each page's first visit on a freshly started server (one start per page)."""
    base = f"http://127.0.0.1:{port}"
    with dashboard(logs, port):  # a visit before the timed ones: the browser caches the static files
        visit(page, base, PAGES[0])
        leave(page)
    seconds = {}
    for spec in PAGES:
        with dashboard(logs, port):
            seconds[spec[0]] = visit(page, base, spec)
            leave(page)
    return seconds


def repeat_visits(page: Any, base: str, runs: int) -> dict[str, tuple[float, float]]:
    """Each page's medians over ``runs`` visits, after one visit that is not counted."""
    seconds = {}
    for spec in PAGES:
        visit(page, base, spec)
        seconds[spec[0]] = medians([visit(page, base, spec) for _ in range(runs)])
    return seconds


def filter_visits(page: Any, base: str, models: list[str], runs: int) -> dict:
    """The Overview with ``?model=NAME``: the first visit with each model (at most ``runs``), then again."""
    first, again = [], []
    for model in models[:runs]:
        first.append(visit(page, base, PAGES[0], f"?model={quote(model)}"))
        again.append(visit(page, base, PAGES[0], f"?model={quote(model)}"))
    (first_drawn, first_script), (again_drawn, again_script) = medians(first), medians(again)
    return {
        "models": models[:runs],
        "first": first_drawn,
        "again": again_drawn,
        "script_done": {"first": first_script, "again": again_script},
    }


# Installed before the pick, run in the page: records when the next pointer press reaches it
# (performance.now's clock), waits on every animation frame for the rerun to start (the script
# running, or elements gone stale), then polls DRAWN on every frame and keeps its answer in
# window.__fixtrailRerun. In the page, not polled from Playwright: the round trips between
# Playwright's calls (wait for the rerun, press Escape, wait again) took 0.1-0.3 s, and a DRAWN
# first polled after the page was drawn again put the end of a fast rerun that much too late.
WATCH_RERUN = f"""(args) => {{
  const drawn = {DRAWN};
  window.__fixtrailBench = null;
  window.__fixtrailPicked = null;
  window.__fixtrailRerunStarted = false;
  window.__fixtrailRerun = null;
  const tick = () => {{
    const app = document.querySelector('[data-testid="stApp"]');
    if (!window.__fixtrailRerunStarted) {{
      window.__fixtrailRerunStarted = app !== null && (
        app.getAttribute("data-test-script-state") === "running"
        || document.querySelector('[data-stale="true"]') !== null
        || performance.now() - window.__fixtrailPicked > 10000);
    }}
    const answer = window.__fixtrailRerunStarted && drawn(args);
    if (answer) {{
      window.__fixtrailRerun = answer;
      return;
    }}
    requestAnimationFrame(tick);
  }};
  document.addEventListener("pointerdown", (e) => {{
    window.__fixtrailPicked = e.timeStamp;
    requestAnimationFrame(tick);
  }}, {{capture: true, once: true}});
}}"""


def sidebar_filter_seconds(page: Any, base: str, model: str) -> tuple[float, float]:
    """Pick ``model`` in the Overview's sidebar Model filter (a rerun, no page load): the seconds from
    the pick until the page is fully drawn again, and until the rerun's script ended (WATCH_RERUN)."""
    title, slug, charts, grids = PAGES[0]
    drawn_seconds(page, f"{base}/{slug}", title, charts, grids)  # the page as a user has it open, not timed
    models_box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    models_box.scroll_into_view_if_needed()  # below the quick date ranges on a short screen
    models_box.click()
    option = page.get_by_role("option", name=model, exact=True)
    option.wait_for(timeout=30_000)
    page.evaluate(WATCH_RERUN, [title, charts, grids, SETTLE_SECONDS * 1000])
    option.click()
    page.wait_for_function("() => window.__fixtrailRerunStarted", polling="raf", timeout=VISIT_TIMEOUT_MS)
    page.keyboard.press("Escape")  # the open list would cover the page
    page.wait_for_function("() => window.__fixtrailRerun !== null", polling="raf", timeout=VISIT_TIMEOUT_MS)
    picked, (drawn, script) = page.evaluate("() => [window.__fixtrailPicked, window.__fixtrailRerun]")
    if f"model={quote(model)}" not in page.url and f"model={model}" not in page.url:
        raise RuntimeError(f"picking {model!r} did not filter the page: {page.url}")
    return (drawn - picked) / 1000, (script - picked) / 1000


def sidebar_filters(page: Any, base: str, models: list[str], runs: int) -> dict:
    """sidebar_filter_seconds for each model (at most ``runs``): medians."""
    picks = [sidebar_filter_seconds(page, base, model) for model in models[:runs]]
    drawn, script = medians(picks)
    return {"models": models[:runs], "drawn": drawn, "script_done": script}


def browser_page(playwright: Any) -> tuple[Any, Any]:
    """Chromium (the system's) started by ``playwright``, and a page 1400 x 1000 px in it."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
    )
    return browser, browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()


def measure(logs: str, runs: int) -> dict:
    """Every browser figure (see the module's docstring)."""
    from playwright.sync_api import sync_playwright

    models = models_of(logs)
    port = free_port()  # one port throughout: the browser's cache is per origin
    with sync_playwright() as playwright:
        browser, page = browser_page(playwright)
        first = first_visits(page, logs, port)
        with dashboard(logs, port) as server:
            base = f"http://127.0.0.1:{port}"
            repeat = repeat_visits(page, base, runs)
            filtered = filter_visits(page, base, models, runs)
            leave(page)
            time.sleep(1)
            memory = memory_mib(server.pid)
        with dashboard(logs, port):  # a server that has seen no filter yet
            filtered["sidebar"] = sidebar_filters(page, base, models, runs)
            leave(page)
        browser.close()
    # A server started on a tree it has never indexed: it builds the index, copies it and works every
    # page's results out (the report's fix rules among them) before it says it has warmed up.
    new_cache = tempfile.mkdtemp(prefix="fixtrail-bench-new-")
    try:
        with dashboard(logs, port, new_cache) as server:
            new_tree_memory = memory_mib(server.pid)  # the server alone: its parse workers are processes of their own
    finally:
        shutil.rmtree(new_cache, ignore_errors=True)
    filtered["unfiltered"] = repeat["Overview"][0]
    return {
        "runs": runs,
        "settle_seconds": SETTLE_SECONDS,
        "first_visit": {title: drawn for title, (drawn, _) in first.items()},
        "repeat_visit": {title: drawn for title, (drawn, _) in repeat.items()},
        "filter": filtered,
        "server_mib": memory,
        "server_mib_new_tree": new_tree_memory,
        # when the script's last run ended, on the same visits: the rest of each figure is the browser's
        "script_done": {
            "first_visit": {title: script for title, (_, script) in first.items()},
            "repeat_visit": {title: script for title, (_, script) in repeat.items()},
        },
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
