"""What depends on other rows, computed in the index: copies, fixes, positions, inferred sessions.

Per attempt file that counts (a log_id in two files: the newest file wins, the count of copies is
kept), twice: once by the logged session ids, once by **inferred** sessions. Inference chains the
attempts that stand alone in their logged session: same prompt, input file and model, each less
than INFERENCE_GAP_SECONDS after the previous one, a success ending the chain; attempts of logged
sessions with several attempts keep their session. An inferred session's id is the log_id of its
first attempt (for a tree that never links attempts, that is the first attempt's own session id).

The facts of a session key: fixed (fixed_by set, or a later success in the same session), the
success that fixed it, its number within the session and the session's size.
"""

from __future__ import annotations

INFERENCE_GAP_SECONDS = 30 * 60
# Inference is on by default when at least this share of attempts are unlinked (alone in a session
# of their own id, naming no previous attempt), in a tree of at least INFERENCE_MIN_ATTEMPTS.
INFERENCE_SINGLE_SHARE = 0.9
INFERENCE_MIN_ATTEMPTS = 20

_FACTS_BY_KEY = """
later_success_{name} AS (
    SELECT f.log_id, min(s.timestamp) AS fixed_at, arg_min(s.log_id, s.timestamp) AS fixing_success
    FROM keyed f
    JOIN keyed s ON s.{key} = f.{key} AND s.status = 'success' AND s.timestamp > f.timestamp
    WHERE f.status = 'failed'
    GROUP BY f.log_id
),
facts_{name} AS (
    SELECT k.path,
           CASE WHEN k.status = 'failed'
                THEN nullif(trim(k.fixed_by), '') IS NOT NULL OR l.fixed_at IS NOT NULL END AS is_fixed,
           CASE WHEN k.status = 'failed'
                THEN coalesce(nullif(trim(k.fixed_by), ''), l.fixing_success) END AS fixed_by_effective,
           l.fixed_at,
           row_number() OVER (PARTITION BY k.{key} ORDER BY k.timestamp, k.log_id) AS attempt_no,
           count(*) OVER (PARTITION BY k.{key}) AS session_attempts
    FROM keyed k LEFT JOIN later_success_{name} l USING (log_id)
)"""

ATTEMPT_FACTS_TEMPLATE = (
    """
CREATE {how} idx.attempt_facts AS
WITH ranked AS (
    SELECT path, log_id, session_id, timestamp, status, fixed_by, user_prompt, image_filename, ai_model,
           previous_attempt_id,
           count(*) OVER (PARTITION BY log_id) AS copies,
           row_number() OVER (PARTITION BY log_id ORDER BY mtime_ns DESC, path) AS copy_rank
    FROM idx.attempt_files
),
unique_attempts AS (
    SELECT * EXCLUDE (copy_rank), count(*) OVER (PARTITION BY session_id) AS logged_size
    FROM ranked WHERE copy_rank = 1
),
chain_steps AS (
    SELECT path, log_id, timestamp, chain_key,
           CASE WHEN lag(timestamp) OVER k IS NULL OR lag(status) OVER k = 'success'
                     OR epoch(timestamp) - epoch(lag(timestamp) OVER k) > """
    + str(INFERENCE_GAP_SECONDS)
    + """
                THEN 1 ELSE 0 END AS starts_chain
    FROM (SELECT *, concat_ws(chr(31), coalesce(user_prompt, log_id), image_filename, ai_model) AS chain_key
          FROM unique_attempts WHERE logged_size = 1)
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
    SELECT u.*, coalesce(c.chain_id, u.session_id) AS inferred_session_id
    FROM unique_attempts u LEFT JOIN chain_ids c USING (path)
),"""
    + _FACTS_BY_KEY.format(name="logged", key="session_id")
    + ","
    + _FACTS_BY_KEY.format(name="inferred", key="inferred_session_id")
    + """
SELECT k.path, k.copies, k.inferred_session_id,
       k.logged_size = 1 AND k.session_id = k.log_id AND k.previous_attempt_id IS NULL AS unlinked,
       g.is_fixed, g.fixed_by_effective, g.fixed_at, g.attempt_no, g.session_attempts,
       i.is_fixed AS inferred_is_fixed, i.fixed_by_effective AS inferred_fixed_by_effective,
       i.fixed_at AS inferred_fixed_at, i.attempt_no AS inferred_attempt_no,
       i.session_attempts AS inferred_session_attempts
FROM keyed k JOIN facts_logged g USING (path) JOIN facts_inferred i USING (path)
"""
)
ATTEMPT_FACTS_SQL = ATTEMPT_FACTS_TEMPLATE.format(how="OR REPLACE TABLE")
ATTEMPT_FACTS_IF_MISSING_SQL = ATTEMPT_FACTS_TEMPLATE.format(how="TABLE IF NOT EXISTS")

SESSION_FACTS = ("is_fixed", "fixed_by_effective", "fixed_at", "attempt_no", "session_attempts")


def attempts_view_sql(source: str, inferred: bool) -> str:
    """The ``attempts`` view over ``{source}attempt_files`` and ``{source}attempt_facts``.

    With ``inferred``, ``session_id`` and the session facts are the inferred ones; the logged
    session id is always there as ``logged_session_id``.
    """
    prefix = "inferred_" if inferred else ""
    facts = ", ".join(f"f.{prefix}{name} AS {name}" for name in SESSION_FACTS)
    session = "f.inferred_session_id" if inferred else "a.session_id"
    return f"""CREATE OR REPLACE VIEW attempts AS
       SELECT a.* REPLACE ({session} AS session_id), a.session_id AS logged_session_id, f.copies, {facts},
              CAST(a.timestamp AS DATE) AS day
       FROM {source}attempt_files a JOIN {source}attempt_facts f USING (path)"""


UNLINKED_SHARE_SQL = (
    "SELECT CASE WHEN count(*) >= "
    + str(INFERENCE_MIN_ATTEMPTS)
    + " THEN avg(CASE WHEN unlinked THEN 1.0 ELSE 0.0 END) ELSE 0.0 END FROM {source}attempt_facts"
)
