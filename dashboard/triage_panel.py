"""Triage in the dashboard: the issue list's filter (``?triage=``, unresolved by default), and on an
error's page its decisions (resolve, reopen, ignore, assign, note, merge) and its activity trail.

Every action is an event written into the tree (loaders.annotations.triage) by the signed-in person
(dashboard.auth), else ``$FIXTRAIL_USER``, else the server's login name.
"""

from __future__ import annotations

import getpass
import os
from datetime import date, timedelta

import streamlit as st

from dashboard import auth
from dashboard.data import query
from dashboard.markdown import escape_markdown
from dashboard.sidebar import current
from loaders.analysis.triage import Triage, by_fingerprint, current_triage, record_action, triaged_groups
from loaders.annotations.triage import TriageError

TRIAGE_PARAM = "triage"
FILTERS = {"unresolved": "Unresolved", "resolved": "Resolved", "ignored": "Ignored", "all": "All"}
STATE_HELP = (
    "regressed: failed again after it was resolved; escalating: an ignore ran out; resolving: resolved "
    "by the next change marker; unresolved, resolved, ignored: as decided"
)
IGNORE_CHOICES = ("for good", "until N more failures", "until a date")


def acting_person() -> str:
    """Who acts from this browser: the signed-in name, else $FIXTRAIL_USER, else the server's login."""
    try:
        return auth.signed_in_name() or os.environ.get("FIXTRAIL_USER", "").strip() or getpass.getuser()
    except (KeyError, OSError):
        return "someone"


def chosen_filter() -> str:
    """The triage filter in the URL (unresolved when none or not one)."""
    value = st.query_params.get(TRIAGE_PARAM, "unresolved")
    return value if value in FILTERS or value.startswith("assigned:") else "unresolved"


def filter_bar(key: str) -> str:
    """The triage filter (a segmented control and "Assigned to"), kept in the URL; returns its value."""
    ctx = current()
    wanted = chosen_filter()
    states = query(current_triage, ctx.index, cache_key=ctx.triage_version)[0]
    names = sorted({state.assignee for state in states.values() if state.assignee})
    left, right = st.columns([3, 2])
    shown = left.segmented_control(
        "Show",
        list(FILTERS),
        format_func=FILTERS.get,
        default=wanted if wanted in FILTERS else None,
        key=f"{key}_triage_filter",
        help="Unresolved also shows regressed and escalating errors, first.",
    )
    assigned = right.selectbox(
        "Assigned to",
        ["anyone", *names],
        index=1 + names.index(wanted.removeprefix("assigned:")) if wanted.removeprefix("assigned:") in names else 0,
        key=f"{key}_triage_assignee",
    )
    value = f"assigned:{assigned}" if assigned != "anyone" else (shown or "unresolved")
    if value != wanted:
        st.query_params[TRIAGE_PARAM] = value
        st.rerun()
    return value


def groups_for(unfixed_only: bool) -> object:
    """The issue list under the URL's triage filter (loaders.analysis.triage.triaged_groups)."""
    ctx = current()
    return query(
        triaged_groups,
        ctx.index,
        ctx.flt,
        as_of=ctx.as_of,
        unfixed_only=unfixed_only,
        wanted=chosen_filter(),
        cache_key=ctx.triage_version,
    )


def decisions_of(fingerprint: str) -> Triage | None:
    """The error's group decisions (a member's are its group's), or None when nothing was decided."""
    ctx = current()
    states = query(current_triage, ctx.index, cache_key=ctx.triage_version)[0]
    return by_fingerprint(states).get(fingerprint)


def _record(action: str, fingerprint: str, from_widgets: dict[str, str] | None = None, **details: object) -> None:
    """Write one event into the tree and say so; a refused action is shown, not raised.

    ``from_widgets``: {detail: widget key} read when the button is clicked (a value bound when the
    panel was drawn would miss what was typed just before the click)."""
    for name, key in (from_widgets or {}).items():
        details[name] = st.session_state.get(key)
    if action == "ignore":
        how = st.session_state.get("triage_ignore_how")
        details["until_count"] = details.get("until_count") if how == IGNORE_CHOICES[1] else None
        details["until"] = details.get("until") if how == IGNORE_CHOICES[2] else None
        if details["until_count"] is not None:
            details["until_count"] = int(details["until_count"])
    try:
        event = record_action(current().index, action, fingerprint, acting_person(), **details)
    except (TriageError, OSError, TimeoutError) as exc:
        st.session_state["triage_message"] = ("error", f"Not recorded: {exc}")
        return
    st.session_state["triage_message"] = ("success", f"{event.describe().capitalize()} (by {event.who}).")


def decision_panel(fingerprint: str, others: list[tuple[str, str]]) -> None:
    """The error's triage state and assignee, its actions, and its activity trail.

    ``others``: (fingerprint, error text) of the other errors, for "merge into".
    """
    decided = decisions_of(fingerprint)
    root = decided.fingerprint if decided else fingerprint
    shown = st.session_state.pop("triage_message", None)
    if shown:
        (st.success if shown[0] == "success" else st.error)(escape_markdown(shown[1]))
    state = decided.state if decided else "unresolved"
    facts = [f"Triage: **{state}**"]
    if decided and decided.assignee:
        facts.append(f"assigned to **{escape_markdown(decided.assignee)}**")
    if decided and decided.members:
        facts.append(f"merged with {len(decided.members)} other fingerprint(s)")
    st.markdown(" · ".join(facts), help=STATE_HELP)
    resolve_col, ignore_col, assign_col, merge_col = st.columns(4)
    with resolve_col:
        if state in ("resolved", "resolving"):
            st.button("Reopen", icon=":material/undo:", key="triage_reopen", on_click=_record, args=("unresolve", root))
        else:
            st.button(
                "Resolve",
                icon=":material/check_circle:",
                key="triage_resolve",
                on_click=_record,
                args=("resolve", root),
            )
            st.button(
                "Resolve in next marker",
                icon=":material/flag:",
                key="triage_resolve_next",
                on_click=_record,
                args=("resolve", root),
                kwargs={"in_next_marker": True},
                help="Resolved when the next change marker is recorded (analyze_logs.py mark ...)",
            )
    with ignore_col, st.popover("Ignore", icon=":material/visibility_off:"):
        how = st.radio("How long", IGNORE_CHOICES, key="triage_ignore_how")
        if how == IGNORE_CHOICES[1]:
            st.number_input("More failures", 1, 1_000_000, 50, key="triage_ignore_count")
        if how == IGNORE_CHOICES[2]:
            st.date_input("Until", date.today() + timedelta(days=30), key="triage_ignore_until")
        st.button(
            "Ignore",
            key="triage_ignore",
            on_click=_record,
            args=("ignore", root, {"until_count": "triage_ignore_count", "until": "triage_ignore_until"}),
        )
    with assign_col, st.popover("Assign", icon=":material/person:"):
        st.text_input(
            "Name (empty to unassign)", value=(decided.assignee or "") if decided else "", key="triage_assignee"
        )
        st.button(
            "Assign", key="triage_assign", on_click=_record, args=("assign", root, {"assignee": "triage_assignee"})
        )
    with merge_col, st.popover("Merge", icon=":material/merge:"):
        own = {root, *(decided.members if decided else [])}
        labels = {fp: f"{text[:80]} ({fp})" for fp, text in others if fp not in own}
        into = st.selectbox("Same error as", list(labels), format_func=labels.get, index=None, key="triage_merge_into")
        st.button(
            "Merge",
            key="triage_merge",
            disabled=into is None,
            on_click=_record,
            args=("merge", root, {"into": "triage_merge_into"}),
        )
    with st.form("triage_note_form", clear_on_submit=True, border=False):
        note = st.text_area("Note", key="triage_note", height=80, placeholder="What the team knows about this error")
        if st.form_submit_button("Add note", icon=":material/edit_note:") and note.strip():
            _record("note", root, text=note)
            st.rerun()
    activity_trail(decided)


def activity_trail(decided: Triage | None) -> None:
    """The error's events, newest first: when, who, what."""
    st.markdown("**Activity**")
    if decided is None or not decided.events:
        st.caption("No decision recorded yet.")
        return
    for event in reversed(decided.events):
        st.text(f"{event.at:%Y-%m-%d %H:%M}  {event.who}: {event.describe()}")
