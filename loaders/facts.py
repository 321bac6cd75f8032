"""What depends on other rows, computed in the index: copies, fixes, positions, inferred sessions.

``attempt_facts`` (always kept up to date) holds, per attempt file that counts (a log_id in two
files: the newest file wins, the count of copies is kept), the facts of its logged session: fixed
(fixed_by set, or a later success in the same session), the success that fixed it, its number
within the session and the session's size, and whether it is **unlinked** (alone in a session of
its own id, naming no previous attempt).

``attempt_inferred_facts`` holds the same facts by **inferred** session, computed only by a load
that uses them (inferred mode, or automatic mode on a tree that does not link its attempts).
Inference chains the attempts that stand alone in their logged session: same prompt, input file
and model, each less than INFERENCE_GAP_SECONDS after the previous one, a success ending the chain;
attempts of logged sessions with several attempts keep their session. An inferred session's id is
the log_id of its first attempt (for a tree that never links attempts, that is the first attempt's
own session id).
"""

from __future__ import annotations

INFERENCE_GAP_SECONDS = 30 * 60
# Inference is on by default when at least this share of attempts are unlinked, in a tree of at
# least INFERENCE_MIN_ATTEMPTS attempts.
INFERENCE_SINGLE_SHARE = 0.9
INFERENCE_MIN_ATTEMPTS = 20

_FACTS_BY_KEY = """
later_success AS (
    SELECT f.log_id, min(s.timestamp) AS fixed_at, arg_min(s.log_id, s.timestamp) AS fixing_success
    FROM keyed f
    JOIN keyed s ON s.session_key = f.session_key AND s.status = 'success' AND s.timestamp > f.timestamp
    WHERE f.status = 'failed'
    GROUP BY f.log_id
)
SELECT k.path, {extra}
       CASE WHEN k.status = 'failed'
            THEN nullif(trim(k.fixed_by), '') IS NOT NULL OR l.fixed_at IS NOT NULL END AS is_fixed,
       CASE WHEN k.status = 'failed'
            THEN coalesce(nullif(trim(k.fixed_by), ''), l.fixing_success) END AS fixed_by_effective,
       l.fixed_at,
       row_number() OVER (PARTITION BY k.session_key ORDER BY k.timestamp, k.log_id) AS attempt_no,
       count(*) OVER (PARTITION BY k.session_key) AS session_attempts
FROM keyed k LEFT JOIN later_success l USING (log_id)
"""

LOGGED_FACTS_SELECT = """
WITH ranked AS (
    SELECT path, log_id, session_id, timestamp, status, fixed_by, previous_attempt_id,
           count(*) OVER (PARTITION BY log_id) AS copies,
           row_number() OVER (PARTITION BY log_id ORDER BY mtime_ns DESC, path) AS copy_rank
    FROM idx.attempt_files {scope}
),
keyed AS (
    SELECT *, session_id AS session_key, count(*) OVER (PARTITION BY session_id) AS logged_size
    FROM ranked WHERE copy_rank = 1
),""" + _FACTS_BY_KEY.format(
    extra="k.copies, k.logged_size = 1 AND k.session_id = k.log_id AND k.previous_attempt_id IS NULL AS unlinked,"
)
LOGGED_FACTS_SQL = "CREATE OR REPLACE TABLE idx.attempt_facts AS" + LOGGED_FACTS_SELECT.format(scope="")

# After a small change only the sessions it touched are computed again: those of the files that
# changed (before and after), widened to the sessions that share a log_id with them (copies).
AFFECTED_SESSIONS_SQL = (
    "CREATE OR REPLACE TEMP TABLE affected_sessions AS "
    "SELECT DISTINCT session_id FROM idx.attempt_files WHERE list_contains(?, path)"
)
MORE_AFFECTED_SESSIONS_SQL = (
    "INSERT INTO affected_sessions SELECT DISTINCT session_id FROM idx.attempt_files WHERE list_contains(?, path)"
)
WIDEN_AFFECTED_SESSIONS_SQL = """
INSERT INTO affected_sessions
SELECT DISTINCT b.session_id
FROM idx.attempt_files a JOIN idx.attempt_files b USING (log_id)
WHERE a.session_id IN (SELECT session_id FROM affected_sessions)
  AND b.session_id NOT IN (SELECT session_id FROM affected_sessions)
"""
UPDATE_LOGGED_FACTS_SQL = (
    """DELETE FROM idx.attempt_facts
       WHERE path NOT IN (SELECT path FROM idx.attempt_files)
          OR path IN (SELECT path FROM idx.attempt_files
                      WHERE session_id IN (SELECT session_id FROM affected_sessions))""",
    "INSERT INTO idx.attempt_facts"
    + LOGGED_FACTS_SELECT.format(scope="WHERE session_id IN (SELECT session_id FROM affected_sessions)"),
)

INFERRED_FACTS_SQL = (
    """
CREATE OR REPLACE TABLE idx.attempt_inferred_facts AS
WITH counted AS (
    SELECT a.path, a.log_id, a.session_id, a.timestamp, a.status, a.fixed_by, a.user_prompt, a.image_filename,
           a.ai_model, f.session_attempts AS logged_size
    FROM idx.attempt_files a JOIN idx.attempt_facts f USING (path)
),
chain_steps AS (
    SELECT path, log_id, timestamp, chain_key,
           CASE WHEN lag(timestamp) OVER k IS NULL OR lag(status) OVER k = 'success'
                     OR epoch(timestamp) - epoch(lag(timestamp) OVER k) > """
    + str(INFERENCE_GAP_SECONDS)
    + """
                THEN 1 ELSE 0 END AS starts_chain
    FROM (SELECT *, concat_ws(chr(31), coalesce(user_prompt, log_id), image_filename, ai_model) AS chain_key
          FROM counted WHERE logged_size = 1)
    WINDOW k AS (PARTITION BY chain_key ORDER BY timestamp, log_id)
),
chains AS (
    SELECT path, log_id, timestamp, chain_key,
           sum(starts_chain) OVER (PARTITION BY chain_key ORDER BY timestamp, log_id) AS chain_no
    FROM chain_steps
),
chain_ids AS (
    SELECT path, first_value(log_id) OVER (PARTITION BY chain_key, chain_no ORDER BY timestamp, log_id) AS chain_id
    FROM chains
),
keyed AS (
    SELECT c.*, coalesce(i.chain_id, c.session_id) AS session_key
    FROM counted c LEFT JOIN chain_ids i USING (path)
),"""
    + _FACTS_BY_KEY.format(extra="k.session_key AS inferred_session_id,")
)
EMPTY_INFERRED_FACTS_SQL = """
CREATE TABLE IF NOT EXISTS idx.attempt_inferred_facts (
    path VARCHAR, inferred_session_id VARCHAR, is_fixed BOOLEAN, fixed_by_effective VARCHAR,
    fixed_at TIMESTAMP, attempt_no BIGINT, session_attempts BIGINT)
"""

SESSION_FACTS = ("is_fixed", "fixed_by_effective", "fixed_at", "attempt_no", "session_attempts")


def attempts_sql(inferred: bool) -> str:
    """Every attempt that counts with the facts of the session mode, from the index file's tables.

    With ``inferred``, ``session_id`` and the session facts are the inferred ones; the logged
    session id is always there as ``logged_session_id``.
    """
    if not inferred:
        facts = ", ".join(f"f.{name}" for name in SESSION_FACTS)
        return f"""
       SELECT a.*, a.session_id AS logged_session_id, f.copies, {facts}, CAST(a.timestamp AS DATE) AS day
       FROM idx.attempt_files a
       JOIN idx.attempt_facts f USING (path)"""
    facts = ", ".join(f"s.{name}" for name in SESSION_FACTS)
    return f"""
       SELECT a.* REPLACE (s.inferred_session_id AS session_id), a.session_id AS logged_session_id, f.copies,
              {facts}, CAST(a.timestamp AS DATE) AS day
       FROM idx.attempt_files a
       JOIN idx.attempt_facts f USING (path)
       JOIN idx.attempt_inferred_facts s USING (path)"""


UNLINKED_SHARE_SQL = (
    "SELECT CASE WHEN count(*) >= "
    + str(INFERENCE_MIN_ATTEMPTS)
    + " THEN avg(CASE WHEN unlinked THEN 1.0 ELSE 0.0 END) ELSE 0.0 END FROM {source}attempt_facts"
)
