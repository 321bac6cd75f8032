"""Alerts for cron or CI: what is new since the last check, each reported once.

Found since the last check (or over the ``window_hours`` ending at ``as_of``, when that reaches
further back): a **new** fingerprint (first failure in the
window), a **regressed** one (a failure in the window after every earlier failure of it had been
fixed), and a significant **drop** of the 7-day success rate or first-try success rate against
the 7 days before (Newcombe's interval, as compare). What was reported is remembered beside the
index, in the cache directory (never in the log tree), one file per tree, so that the next check
does not repeat it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loaders.analysis.filters import ALL
from loaders.analysis.first_try import first_try_counts
from loaders.analysis.metrics import WINDOW_DAYS, window_counts
from loaders.analysis.stats import rate_difference
from loaders.analysis.triage import Triage, by_fingerprint, current_triage
from loaders.core.files import StateFileError, json_bytes, read_state_json, write_atomically
from loaders.store.index import LogIndex

DEFAULT_WINDOW_HOURS = 24.0
# Reported keys older than this are forgotten (a fingerprint new then is not new any more).
MEMORY_DAYS = 90
MEMORY_MAX_BYTES = 16 << 20

ALERT_FINGERPRINTS_SQL = """
WITH failures AS (
    SELECT *,
           count(*) OVER earlier AS earlier_failures,
           max(coalesce(fixed_at, TIMESTAMP '9999-12-31')) OVER earlier AS earlier_all_fixed_at
    FROM attempts
    WHERE status = 'failed' AND fingerprint IS NOT NULL AND timestamp <= ?
    WINDOW earlier AS (PARTITION BY fingerprint ORDER BY timestamp, log_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
grouped AS (
    SELECT fingerprint, arg_max(error_line, timestamp) AS error_line, arg_max(category, timestamp) AS category,
           min(timestamp) AS first_seen,
           max(timestamp) FILTER (WHERE earlier_failures > 0 AND earlier_all_fixed_at <= timestamp) AS regressed_at,
           count(*) AS failures,
           count(*) FILTER (WHERE timestamp > ?) AS failures_in_window,
           count(*) FILTER (WHERE NOT is_fixed) AS unfixed,
           count(DISTINCT session_id) FILTER (WHERE timestamp > ?) AS sessions_in_window
    FROM failures GROUP BY fingerprint
)
SELECT *, CASE WHEN first_seen > ? THEN 'new_fingerprint' ELSE 'regressed_fingerprint' END AS kind
FROM grouped
WHERE first_seen > ? OR regressed_at > ?
ORDER BY failures_in_window DESC, fingerprint
"""


def _failures(count: int) -> str:
    return f"{count} failure{'' if count == 1 else 's'}"


def _error_link(fingerprint: str) -> str:
    return f"/errors?error={quote(fingerprint, safe='')}"


def fingerprint_alerts(index: LogIndex, as_of: datetime, start: datetime) -> list[dict[str, Any]]:
    """New and regressed fingerprints in (start, as_of]; each alert's ``key`` names what it reports."""
    rows = index.cursor().execute(ALERT_FINGERPRINTS_SQL, [as_of, start, start, start, start, start])
    columns = [column[0] for column in rows.description]
    alerts = []
    for values in rows.fetchall():
        row = dict(zip(columns, values, strict=True))
        new = row["kind"] == "new_fingerprint"
        when = row["first_seen"] if new else row["regressed_at"]
        alerts.append(
            {
                "kind": row["kind"],
                "key": f"{row['kind']}:{row['fingerprint']}:{when.isoformat()}",
                "fingerprint": row["fingerprint"],
                "error_line": row["error_line"],
                "category": row["category"],
                "counts": {
                    "failures_in_window": int(row["failures_in_window"]),
                    "sessions_in_window": int(row["sessions_in_window"]),
                    "failures": int(row["failures"]),
                    "unfixed": int(row["unfixed"]),
                },
                "since": when.isoformat(timespec="seconds"),
                "link": _error_link(row["fingerprint"]),
                "text": f"{'New error' if new else 'Regressed error'}: {row['error_line']} "
                f"({_failures(int(row['failures_in_window']))} since {start:%Y-%m-%d %H:%M})",
            }
        )
    return alerts


RATE_LABELS = {"success_rate_drop": "7-day success rate", "first_try_drop": "7-day first-try success rate"}


def rate_alerts(index: LogIndex, as_of: datetime) -> list[dict[str, Any]]:
    """A significant drop of the 7-day success or first-try rate against the 7 days before (one per day)."""
    week = timedelta(days=WINDOW_DAYS)
    recent, recent_ok = window_counts(index, ALL, as_of)
    previous, previous_ok = window_counts(index, ALL, as_of - week)
    recent_first = first_try_counts(index, ALL, as_of - week, as_of)
    previous_first = first_try_counts(index, ALL, as_of - 2 * week, as_of - week)
    differences = {
        "success_rate_drop": rate_difference(previous_ok, previous, recent_ok, recent),
        "first_try_drop": rate_difference(
            previous_first.first_try_successes,
            previous_first.sessions,
            recent_first.first_try_successes,
            recent_first.sessions,
        ),
    }
    alerts = []
    for kind, diff in differences.items():
        if not diff.significant or (diff.delta or 0) >= 0:
            continue
        alerts.append(
            {
                "kind": kind,
                "key": f"{kind}:{as_of.date().isoformat()}",
                "fingerprint": None,
                "error_line": None,
                "counts": diff.as_dict(),
                "since": (as_of - week).isoformat(timespec="seconds"),
                "link": "/",
                "text": f"{RATE_LABELS[kind]} fell from {diff.a:.0f} % to {diff.b:.0f} % "
                f"({diff.delta:+.0f} points, 95 % interval {diff.ci_low:+.0f} to {diff.ci_high:+.0f})",
            }
        )
    return alerts


def find_alerts(
    index: LogIndex, as_of: datetime, window_hours: float = DEFAULT_WINDOW_HOURS, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Every alert at ``as_of``, reported before or not: rate drops, then new and regressed fingerprints
    since ``since`` (the last check) or in the ``window_hours`` before ``as_of``, whichever is longer.

    Each alert: kind, key (what makes it the same alert again), fingerprint, error_line, counts,
    since, link (path of the dashboard view), text (one line in words).
    """
    start = as_of - timedelta(hours=window_hours)
    if since is not None and since < start:
        start = since
    states = by_fingerprint(current_triage(index, as_of)[0])
    ignored = {fingerprint for fingerprint, state in states.items() if state.state == "ignored"}
    found = [alert for alert in fingerprint_alerts(index, as_of, start) if alert["fingerprint"] not in ignored]
    return [*rate_alerts(index, as_of), *triage_alerts(index, states), *found]


def triage_alerts(index: LogIndex, states: dict[str, Triage]) -> list[dict[str, Any]]:
    """An error the team resolved that failed again (reopened), and one whose ignore ran out
    (escalating): each once, keyed by when it came back."""
    alerts = []
    for root, state in {state.fingerprint: state for state in states.values()}.items():
        if state.state == "regressed" and state.regressed_at is not None:
            kind, since = "reopened_fingerprint", state.regressed_at
            text = f"Resolved error failed again: {root} (resolved {state.resolved_at:%Y-%m-%d %H:%M})"
        elif state.state == "escalating" and state.ignored_at is not None:
            kind, since = "escalating_fingerprint", state.ignored_at
            text = f"Ignored error is back: {root} (ignored {state.ignored_at:%Y-%m-%d %H:%M})"
        else:
            continue
        error_line = _error_line(index, [root, *state.members])
        alerts.append(
            {
                "kind": kind,
                "key": f"{kind}:{root}:{since.isoformat()}",
                "fingerprint": root,
                "error_line": error_line,
                "counts": {"members": len(state.members)},
                "since": since.isoformat(timespec="seconds"),
                "link": _error_link(root),
                "text": text.replace(root, error_line or root, 1),
            }
        )
    return alerts


def _error_line(index: LogIndex, fingerprints: list[str]) -> str | None:
    """The newest key error line of these fingerprints."""
    row = (
        index.cursor()
        .execute(
            "SELECT arg_max(error_line, timestamp) FROM attempts WHERE list_contains(?, fingerprint)", [fingerprints]
        )
        .fetchone()
    )
    return row[0] if row else None


def memory_path(index: LogIndex) -> Path:
    """The file remembering what the checks of this tree reported: beside its index, in the cache."""
    return index.path.with_name(index.path.stem + ".alerts.json")


def _memory(path: Path) -> dict[str, Any]:
    """The memory file's object; empty when it is missing or refused (the guarded reader says why)."""
    try:
        data = read_state_json(path, MEMORY_MAX_BYTES)
    except StateFileError:
        return {}
    return data if isinstance(data, dict) else {}


def last_check(path: Path) -> datetime | None:
    """When the last check that reported (or found nothing) looked, from the memory file (local time)."""
    try:
        when = datetime.fromisoformat(_memory(path)["last_check"])
        return when.astimezone().replace(tzinfo=None) if when.tzinfo else when
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def reported_keys(path: Path) -> dict[str, str]:
    """{alert key: when it was reported} from the memory file; empty when missing or unreadable."""
    reported = _memory(path).get("reported")
    if not isinstance(reported, dict):
        return {}
    return {str(key): str(value) for key, value in reported.items()}


def unreported(alerts: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """The alerts whose key the memory file does not hold."""
    known = reported_keys(path)
    return [alert for alert in alerts if alert["key"] not in known]


def remember(path: Path, alerts: list[dict[str, Any]], now: datetime | None = None) -> None:
    """Add the alerts' keys to the memory file (atomically), forgetting those older than MEMORY_DAYS;
    ``now`` (the check's as_of) becomes the last check."""
    now = now or datetime.now()
    cutoff = (now - timedelta(days=MEMORY_DAYS)).isoformat()
    kept = {key: when for key, when in reported_keys(path).items() if when >= cutoff}
    kept.update({alert["key"]: now.isoformat(timespec="seconds") for alert in alerts})
    write_atomically(path, json_bytes({"reported": kept, "last_check": now.isoformat(timespec="seconds")}))
