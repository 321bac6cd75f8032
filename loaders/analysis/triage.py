"""Each error's triage state, worked out from the team's events (loaders.annotations.triage) and the logs.

States (TRIAGE_STATES):
- ``unresolved``: nobody decided anything, or it was reopened;
- ``resolving``: resolved "in the next marker", and no marker has been recorded since;
- ``resolved``: resolved, and no failure of it since;
- ``regressed``: a failure came after its resolution: it is back, at the top of the list;
- ``ignored``: ignored for good, or until a count or a date not yet reached;
- ``escalating``: ignored until N more failures or a date, and that came: it is back.
Merges make groups: a fingerprint merged into another is shown and counted with it (its root), and
the group's state is the root's events and the members' events together, in time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loaders.analysis.errors import error_groups
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.annotations.markers import Marker, read_markers
from loaders.annotations.triage import TriageError, TriageEvent, make_event, read_triage, record_event
from loaders.store.index import LogIndex

if TYPE_CHECKING:
    import pandas as pd

TRIAGE_STATES = ("regressed", "escalating", "unresolved", "resolving", "resolved", "ignored")
OPEN_STATES = ("regressed", "escalating", "unresolved")  # what the issue list shows by default
TRIAGE_FILTERS = ("unresolved", "resolved", "ignored", "all")  # and "assigned:NAME"


@dataclass
class Triage:
    """One error group's decisions: its state, when it was resolved or ignored, who has it, its notes,
    the fingerprints merged into it, and its events (the activity trail, oldest first)."""

    fingerprint: str
    state: str = "unresolved"
    resolved_at: datetime | None = None
    regressed_at: datetime | None = None
    ignored_at: datetime | None = None
    ignore_until_count: int | None = None
    ignore_until: datetime | None = None
    assignee: str | None = None
    members: list[str] = field(default_factory=list)
    events: list[TriageEvent] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The group as JSON: state, times, assignee, members, and each event."""
        times = {"resolved_at": self.resolved_at, "regressed_at": self.regressed_at, "ignored_at": self.ignored_at}
        return {
            "fingerprint": self.fingerprint,
            "state": self.state,
            **{key: value.isoformat(timespec="seconds") if value else None for key, value in times.items()},
            "ignore_until_count": self.ignore_until_count,
            "ignore_until": self.ignore_until.date().isoformat() if self.ignore_until else None,
            "assignee": self.assignee,
            "members": self.members,
            "notes": [event.text for event in self.events if event.action == "note"],
            "events": [{**event.as_dict(), "what": event.describe()} for event in self.events],
        }


def group_roots(events: list[TriageEvent]) -> dict[str, str]:
    """Each merged fingerprint's group root (following merges of merges; a merge that would close a
    circle is left out). Fingerprints never merged are not in the map."""
    parent: dict[str, str] = {}

    def root(fingerprint: str) -> str:
        while fingerprint in parent:
            fingerprint = parent[fingerprint]
        return fingerprint

    for event in events:
        if event.action == "merge" and event.into and root(event.into) != root(event.fingerprint):
            parent[root(event.fingerprint)] = root(event.into)
    return {fingerprint: root(fingerprint) for fingerprint in parent}


class UnknownFingerprint(TriageError):
    """An action names a fingerprint no failure of the tree has."""


class AlreadyOneError(TriageError):
    """A merge of two fingerprints that are one group already."""


KNOWN_FINGERPRINTS_SQL = "SELECT DISTINCT coalesce(fingerprint, 'none') AS fp FROM attempts WHERE status = 'failed'"


def record_action(index: LogIndex, action: str, fingerprint: str, who: str, **details: Any) -> TriageEvent:
    """Check one action on an error and keep it in the tree (what the CLI, the API and the dashboard
    call). Raises UnknownFingerprint when ``fingerprint`` (or a merge's ``into``) names no failure,
    AlreadyOneError for a merge within one group, TriageError for what make_event refuses."""
    known = set(index.frame(KNOWN_FINGERPRINTS_SQL)["fp"])
    for name in (fingerprint, details.get("into")):
        if name is not None and name not in known:
            raise UnknownFingerprint(f"no error has the fingerprint {name!r}")
    if action == "merge" and details.get("into"):
        refusal = merge_refusal(current_triage(index)[0], fingerprint, details["into"])
        if refusal:
            raise AlreadyOneError(refusal)
    return record_event(index.root, make_event(action, fingerprint, who, **details))


def merge_refusal(states: dict[str, Triage], fingerprint: str, into: str) -> str | None:
    """Why ``fingerprint`` cannot be merged into ``into`` (they are one group already), or None."""
    decided = by_fingerprint(states)
    root = decided[fingerprint].fingerprint if fingerprint in decided else fingerprint
    target = decided[into].fingerprint if into in decided else into
    if root == target:
        return f"{fingerprint} and {into} are one error already (group {root})"
    return None


FAILURES_SINCE_SQL = """
WITH asked AS (
    SELECT unnest(CAST(? AS VARCHAR[])) AS member, unnest(CAST(? AS VARCHAR[])) AS root,
           unnest(CAST(? AS TIMESTAMP[])) AS since
)
SELECT a.root, a.since, count(f.timestamp) AS failures, min(f.timestamp) AS first_failure
FROM asked a
LEFT JOIN attempts f
  ON f.status = 'failed' AND coalesce(f.fingerprint, 'none') = a.member AND f.timestamp > a.since
GROUP BY ALL
"""


def _failures_since(index: LogIndex, asked: list[tuple[str, datetime]], roots: dict[str, str]) -> dict:
    """{(root, since): (failures of the group after since, the first of them)} for each asked pair."""
    if not asked:
        return {}
    members = {root: [fp for fp, group in roots.items() if group == root] + [root] for root, _ in asked}
    rows = [(member, root, since) for root, since in asked for member in members[root]]
    frame = index.frame(
        FAILURES_SINCE_SQL,
        [[row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows]],
    )
    found: dict[tuple[str, datetime], tuple[int, datetime | None]] = {}
    for root, since, failures, first in frame.itertuples(index=False):
        count, earliest = found.get((root, since), (0, None))
        first = None if first is None or first != first else first.to_pydatetime()
        earliest = min((t for t in (earliest, first) if t is not None), default=None)
        found[(root, since)] = (count + int(failures), earliest)
    return found


def _effective_resolution(event: TriageEvent, markers: list[Marker]) -> datetime | None:
    """When a resolve takes effect: at once, or at the first marker recorded after it (None: not yet)."""
    if not event.in_next_marker:
        return event.at
    later = [marker.at for marker in markers if marker.at >= event.at]
    return min(later) if later else None


def triage_states(
    index: LogIndex, events: list[TriageEvent], markers: list[Marker], now: datetime | None = None
) -> dict[str, Triage]:
    """Every error group with at least one event, by its root fingerprint."""
    now = now or datetime.now()
    roots = group_roots(events)
    groups: dict[str, Triage] = {}
    for event in events:
        root = roots.get(event.fingerprint, event.fingerprint)
        group = groups.setdefault(root, Triage(root))
        group.events.append(event)
    for fingerprint, root in roots.items():
        groups.setdefault(root, Triage(root)).members.append(fingerprint)
    decided: dict[str, TriageEvent] = {}
    for root, group in groups.items():
        group.members.sort()
        for event in group.events:
            if event.action == "assign":
                group.assignee = event.assignee or None
            elif event.action in ("resolve", "unresolve", "ignore"):
                decided[root] = event
    asked: list[tuple[str, datetime]] = []
    for root, event in decided.items():
        since = _effective_resolution(event, markers) if event.action == "resolve" else event.at
        if since is not None and event.action != "unresolve":
            asked.append((root, since))
    counts = _failures_since(index, asked, roots)
    for root, event in decided.items():
        _apply(groups[root], event, markers, counts, now)
    return groups


def _apply(group: Triage, event: TriageEvent, markers: list[Marker], counts: dict, now: datetime) -> None:
    """Set the group's state from its last resolve, unresolve or ignore and the failures since."""
    if event.action == "unresolve":
        group.state = "unresolved"
        return
    if event.action == "resolve":
        since = _effective_resolution(event, markers)
        if since is None:
            group.state = "resolving"
            return
        failures, first = counts.get((group.fingerprint, since), (0, None))
        group.resolved_at = since
        group.state, group.regressed_at = ("regressed", first) if failures else ("resolved", None)
        return
    failures, _ = counts.get((group.fingerprint, event.at), (0, None))
    group.ignored_at, group.ignore_until_count = event.at, event.until_count
    group.ignore_until = datetime.combine(event.until, datetime.min.time()) if event.until else None
    came = (event.until_count is not None and failures >= event.until_count) or (
        group.ignore_until is not None and now >= group.ignore_until
    )
    group.state = "escalating" if came else "ignored"


def with_triage(groups: pd.DataFrame, states: dict[str, Triage]) -> pd.DataFrame:
    """An issue list (loaders.analysis.errors.error_groups) with merged fingerprints folded into their
    group's row and the columns ``triage`` (a TRIAGE_STATES value), ``assignee`` and ``members``.

    A folded row adds its members' counts (count, failures, fixed, the daily sparkline; sessions are
    added too, so a session with two members counts twice), keeps the earliest first and the latest
    last seen, and the root's error text (or the newest member's when the root has no failure here).
    Regressed and escalating errors come first.
    """
    import pandas as pd

    roots = {member: root for root, state in states.items() for member in state.members}
    frame = groups.assign(group=[roots.get(fp, fp) for fp in groups["fingerprint"]])
    if roots:
        frame = frame.groupby("group", as_index=False, sort=False).apply(_fold, include_groups=False)
        frame = frame.reset_index(drop=True)
        frame["fingerprint"] = frame.pop("group") if "group" in frame else frame["fingerprint"]
    else:
        frame = frame.drop(columns=["group"])
    frame["triage"] = [states[fp].state if fp in states else "unresolved" for fp in frame["fingerprint"]]
    frame["assignee"] = [states[fp].assignee if fp in states else None for fp in frame["fingerprint"]]
    frame["members"] = [len(states[fp].members) if fp in states else 0 for fp in frame["fingerprint"]]
    frame = frame.sort_values(["count", "last_seen", "fingerprint"], ascending=[False, False, True], kind="stable")
    urgent = frame["triage"].isin(("regressed", "escalating"))
    return pd.concat([frame[urgent], frame[~urgent]], ignore_index=True)


def _fold(rows: pd.DataFrame) -> pd.Series:
    """One row for a group of fingerprints (see with_triage): the root's text, else the newest member's."""
    import pandas as pd

    if len(rows) == 1:
        return rows.iloc[0]
    own = rows[rows["fingerprint"] == rows.name]
    merged = (own.iloc[0] if len(own) else rows.sort_values("last_seen").iloc[-1]).copy()
    for column in ("count", "sessions", "failures", "fixed"):
        merged[column] = rows[column].sum()
    merged["fix_rate"] = merged["fixed"] * 100.0 / merged["failures"] if merged["failures"] else 0.0
    merged["first_seen"], merged["last_seen"] = rows["first_seen"].min(), rows["last_seen"].max()
    merged["daily"] = [sum(day) for day in zip(*rows["daily"], strict=True)]
    if "count_7d" in rows:
        merged["count_7d"] = rows["count_7d"].sum()
    return pd.Series(merged)


def matches_filter(row_state: str, assignee: object, wanted: str) -> bool:
    """Whether an error of ``row_state`` (and ``assignee``) is shown under the triage filter ``wanted``:
    unresolved (OPEN_STATES, the default), resolved (resolved and resolving), ignored, all, or
    ``assigned:NAME``."""
    if wanted == "all":
        return True
    if wanted.startswith("assigned:"):
        name = assignee if isinstance(assignee, str) else ""
        return name.casefold() == wanted.removeprefix("assigned:").strip().casefold()
    if wanted == "resolved":
        return row_state in ("resolved", "resolving")
    if wanted == "ignored":
        return row_state == "ignored"
    return row_state in OPEN_STATES


def group_members(fingerprint: str, states: dict[str, Triage]) -> list[str]:
    """The fingerprints shown as this error: itself and those merged into it."""
    state = states.get(fingerprint)
    return [fingerprint, *(state.members if state else [])]


def current_triage(index: LogIndex, now: datetime | None = None) -> tuple[dict[str, Triage], list[str]]:
    """The tree's error groups with events (by root fingerprint), and what could not be read of its events."""
    log = read_triage(index.root)
    markers = [] if str(index.root).startswith("s3://") else read_markers(index.root)
    return triage_states(index, log.events, markers, now), log.problems


def by_fingerprint(states: dict[str, Triage]) -> dict[str, Triage]:
    """Each triaged fingerprint's group, members included (a member is decided with its group)."""
    found = dict(states)
    for state in states.values():
        found.update(dict.fromkeys(state.members, state))
    return found


def triaged_groups(
    index: LogIndex,
    flt: AttemptFilter = ALL,
    as_of: datetime | None = None,
    unfixed_only: bool = False,
    wanted: str = "unresolved",
    limit: int = 500,
    now: datetime | None = None,
    states: dict[str, Triage] | None = None,
) -> pd.DataFrame:
    """The issue list under a triage filter (``wanted``, see matches_filter): error_groups with merged
    fingerprints folded, ``triage``, ``assignee`` and ``members`` columns, regressed and escalating first.

    ``as_of`` ends the sparklines and the 7-day state (as in error_groups); ``now`` (default: the
    clock) decides whether an ignore until a date has run out; ``states``: current_triage's, when the
    caller has them already."""
    import pandas as pd

    if states is None:
        states, _ = current_triage(index, now)
    listed = error_groups(index, flt, as_of, unfixed_only, limit=limit)
    # A member of a listed group that falls outside the limit is still counted with its group.
    shown = set(listed["fingerprint"])
    missing = [
        member
        for root, state in states.items()
        for member in [root, *state.members]
        if member not in shown and (root in shown or any(m in shown for m in state.members))
    ]
    extra = [error_groups(index, flt, as_of, unfixed_only, fingerprint=member) for member in missing]
    groups = with_triage(pd.concat([listed, *extra], ignore_index=True) if extra else listed, states)
    keep = [matches_filter(state, who, wanted) for state, who in zip(groups["triage"], groups["assignee"], strict=True)]
    return groups.loc[pd.Series(keep, index=groups.index, dtype=bool)].reset_index(drop=True)


def triage_items(
    index: LogIndex, wanted: str = "unresolved", as_of: datetime | None = None, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The issue list under ``wanted`` as JSON items (fingerprint, error, category, triage, assignee,
    count, first_seen, last_seen, members, events: the activity trail), and the events not read."""
    states, problems = current_triage(index, now)
    decided = by_fingerprint(states)
    groups = triaged_groups(index, as_of=as_of, wanted=wanted, now=now, limit=100_000, states=states)
    items = []
    for row in groups.itertuples(index=False):
        state = decided.get(row.fingerprint)
        items.append(
            {
                "fingerprint": row.fingerprint,
                "error": row.error,
                "category": row.category,
                "triage": row.triage,
                "assignee": row.assignee if isinstance(row.assignee, str) else None,
                "count": int(row.count),
                "first_seen": row.first_seen.isoformat(timespec="seconds"),
                "last_seen": row.last_seen.isoformat(timespec="seconds"),
                "members": state.members if state else [],
                "events": state.as_dict()["events"] if state else [],
            }
        )
    return items, problems


def group_detail(
    index: LogIndex,
    fingerprint: str,
    flt: AttemptFilter = ALL,
    as_of: datetime | None = None,
    unfixed_only: bool = False,
) -> pd.DataFrame:
    """One error's row of the issue list (error_groups' columns and the triage ones), its merged
    fingerprints folded in: what the error's page shows. Empty when none of them failed here."""
    import pandas as pd

    states, _ = current_triage(index)
    decided = by_fingerprint(states).get(fingerprint)
    root = decided.fingerprint if decided else fingerprint
    members = group_members(root, states)
    rows = [error_groups(index, flt, as_of, unfixed_only, fingerprint=member) for member in members]
    found = [row for row in rows if not row.empty]
    if not found:
        return rows[0]
    return with_triage(pd.concat(found, ignore_index=True), states)
