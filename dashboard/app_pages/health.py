"""Data health: where the logs and the index are, what was loaded, what was skipped and why."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data import query
from dashboard.sidebar import current
from dashboard.widgets import downloads, table
from loaders.analysis.health import attempts_with_secrets, duplicate_log_ids, flagged_records, index_health
from loaders.outputs.sections import skipped_files

ctx = current()
st.title("Data health")
health = query(index_health, ctx.index)
cols = st.columns(4)
cols[0].metric("Attempt records", f"{health.attempts:,}")
cols[1].metric("Session files", f"{health.session_files:,}")
cols[2].metric("Skipped files", f"{health.skipped_files:,}")
cols[3].metric("Records with coerced values", f"{health.flagged_records:,}")
table(
    pd.DataFrame(
        [
            ("Log directory", health.logs_dir),
            ("Index file", health.index_path),
            ("Index size", f"{health.index_bytes / 1e6:.1f} MB"),
            ("Attempt JSON read", f"{health.attempt_bytes / 1e6:.1f} MB"),
            ("Last loaded (UTC)", health.loaded_at or "never"),
            ("Index version", str(health.version)),
            (
                "Last refresh",
                f"{health.last_refresh_seconds:.3f} s, {health.last_refresh_parsed} files read"
                if health.last_refresh_seconds is not None
                else "not yet",
            ),
            ("Files sharing a log_id", str(health.duplicate_files)),
        ],
        columns=["what", "value"],
    ),
    "health_facts",
    {"what": st.column_config.TextColumn("What"), "value": st.column_config.TextColumn("Value", width="large")},
)

st.subheader("Skipped files")
skipped = pd.DataFrame(query(skipped_files, ctx.index), columns=["path", "folder", "reason", "size"])
if skipped.empty:
    st.success("Every file under failures/, successes/ and sessions/ is a record.")
else:
    table(
        skipped[["path", "reason", "folder", "size"]],
        "health_skipped",
        {"reason": st.column_config.TextColumn("Why skipped", width="large"), "folder": "Folder"},
    )
    downloads(skipped, "skipped_files", "health_skipped")

st.subheader("Records loaded with coerced values")
flagged = query(flagged_records, ctx.index)
if flagged.empty:
    st.success("No record needed coercion.")
else:
    table(
        flagged[["path", "flags", "log_id"]],
        "health_flagged",
        {"flags": st.column_config.TextColumn("What was coerced", width="large")},
    )

st.subheader("Attempts holding secrets")
holding = query(attempts_with_secrets, ctx.index)
if holding.empty:
    st.success("No key, token, private key or password was found in the records.")
else:
    st.warning(
        f"{len(holding):,} attempts hold secrets (keys, tokens, passwords). Fixtrail shows them masked "
        "everywhere and never changes the files: purge them at the source, then rotate the secrets.",
        icon=":material/key:",
    )
    table(
        holding,
        "health_secrets",
        {
            "kinds": st.column_config.TextColumn("Secrets found", width="medium"),
            "timestamp": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
            "path": st.column_config.TextColumn("File", width="large"),
        },
    )
    downloads(holding, "attempts_with_secrets", "health_secrets")

duplicates = query(duplicate_log_ids, ctx.index)
if not duplicates.empty:
    st.subheader("log_ids found in more than one file")
    table(
        duplicates,
        "health_duplicates",
        {
            "files": st.column_config.NumberColumn("Files", format="%d", help="Files holding this log_id"),
            "counted_path": st.column_config.TextColumn("File counted", help="The newest file is the one counted"),
        },
    )
