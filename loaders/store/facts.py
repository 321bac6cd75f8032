"""What depends on other rows, computed in the index: copies, fixes, positions, inferred sessions.

``attempt_facts`` (always kept up to date) holds, per attempt file that counts (a log_id in two
files: the newest file wins, the count of copies is kept), the facts of its logged session: fixed
(fixed_by set, or a later success in the same session), the success that fixed it, its number
within the session and the session's size, and whether it is **unlinked** (alone in a session of
its own id, naming no previous attempt).

``attempt_inferred_facts`` holds the same facts by **inferred** session, computed only by a load
that uses them (inferred mode, or automatic mode on a tree that does not link its attempts).
Inference links each attempt that stands alone in its logged session to the earlier standalone
failure it most likely retries: same prompt, input file and model (null matches null), less than
INFERENCE_GAP_SECONDS before it, and code at least INFERENCE_SIMILARITY alike (with a shared
non-null prompt, INFERENCE_SIMILARITY_SAME_PROMPT); the most similar candidate wins, and a failure
is retried once, so a success ends its chain and a re-run after it starts a session of its own.
Attempts of logged sessions with several attempts keep their session. The link's similarity and
the attempt it retries are kept (``inferred_similarity``, ``inferred_previous_id``). An inferred session's id is
the log_id of its first attempt (for a tree that never links attempts, that is the first attempt's
own session id).
"""

from __future__ import annotations

import itertools
from typing import Any

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
),
numbered AS (
    SELECT k.path, {extra}
           CASE WHEN k.status = 'failed'
                THEN nullif(trim(k.fixed_by), '') IS NOT NULL OR l.fixed_at IS NOT NULL END AS is_fixed,
           CASE WHEN k.status = 'failed'
                THEN coalesce(nullif(trim(k.fixed_by), ''), l.fixing_success) END AS fixed_by_effective,
           l.fixed_at,
           row_number() OVER (PARTITION BY k.session_key ORDER BY k.timestamp, k.log_id) AS attempt_no,
           count(*) OVER (PARTITION BY k.session_key) AS session_attempts,
           k.status AS numbered_status, k.session_key AS numbered_session
    FROM keyed k LEFT JOIN later_success l USING (log_id)
)
SELECT * EXCLUDE (numbered_status, numbered_session),
       min(CASE WHEN numbered_status = 'success' THEN attempt_no END) OVER (PARTITION BY numbered_session)
           AS first_success_no
FROM numbered
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
# changed (before and after), widened to the sessions that share a log_id with them (copies). The
# files replaced or removed are widened before their rows go: a copy left alone counts copies again.
_SESSIONS_OF_PATHS = """
SELECT DISTINCT b.session_id
FROM idx.attempt_files a JOIN idx.attempt_files b USING (log_id)
WHERE list_contains(?, a.path)
UNION SELECT session_id FROM idx.attempt_files WHERE list_contains(?, path)
"""
AFFECTED_SESSIONS_SQL = "CREATE OR REPLACE TEMP TABLE affected_sessions AS" + _SESSIONS_OF_PATHS
# The same for the files a follow-up scan found rewritten or gone (a source's rewritten_files_of).
MORE_AFFECTED_BY_OLD_PATHS_SQL = "INSERT INTO affected_sessions" + _SESSIONS_OF_PATHS
NO_AFFECTED_SESSIONS_SQL = "CREATE OR REPLACE TEMP TABLE affected_sessions (session_id VARCHAR)"
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
# After a small change: the facts of the sessions it touched, computed into ``changed_facts``; the
# stored facts of those sessions and of the files the change replaced or removed (``?``: their paths)
# make way for them.
UPDATE_LOGGED_FACTS_SQL = (
    "CREATE OR REPLACE TEMP TABLE changed_facts AS"
    + LOGGED_FACTS_SELECT.format(scope="WHERE session_id IN (SELECT session_id FROM affected_sessions)"),
    """DELETE FROM idx.attempt_facts
       WHERE list_contains(?, path)
          OR path IN (SELECT path FROM idx.attempt_files
                      WHERE session_id IN (SELECT session_id FROM affected_sessions))""",
    "INSERT INTO idx.attempt_facts SELECT * FROM changed_facts",
)

# An attempt retries an earlier failure of the same task when their code shares at least this much
# (Jaccard similarity of code_text.code_sketch). Chosen on generated unlinked trees of seeds 1-3
# and reported on seeds 4-9 (bench/inference_quality.py; README "What it tells the model").
INFERENCE_SIMILARITY = 0.4
# With the same non-null prompt the task is known to be the same: a retry the model rewrote almost
# whole still counts (the demo's cv2 -> skimage retry shares 0.2 of its lines).
INFERENCE_SIMILARITY_SAME_PROMPT = 0.1

_LOOSE_ATTEMPTS = f"""
counted AS (
    SELECT a.path, a.log_id, a.session_id, a.timestamp, a.status, a.fixed_by, a.code_sketch,
           a.user_prompt IS NOT NULL AS has_prompt,
           concat_ws(chr(31), coalesce(a.user_prompt, chr(0)), coalesce(a.image_filename, chr(0)),
                     coalesce(a.ai_model, chr(0))) AS task_key,
           CAST(floor(epoch(a.timestamp) / {INFERENCE_GAP_SECONDS}) AS BIGINT) AS time_bucket,
           f.session_attempts AS logged_size
    FROM idx.attempt_files a JOIN idx.attempt_facts f USING (path)
),
loose AS (SELECT * FROM counted WHERE logged_size = 1)"""

# Every (attempt, earlier failure it may retry) pair that passes the thresholds, each attempt's
# candidates from the most likely down. Time buckets of INFERENCE_GAP_SECONDS keep the join to
# equal keys: a parent is in the child's bucket or the one before.
_RETRY_CANDIDATES_TEMPLATE = f"""
WITH {_LOOSE_ATTEMPTS},
pairs AS (
    SELECT c.log_id AS child_id, c.timestamp AS child_at, c.has_prompt, c.code_sketch AS child_sketch,
           p.log_id AS parent_id, p.timestamp AS parent_at, p.code_sketch AS parent_sketch
    FROM loose c JOIN loose p ON p.task_key = c.task_key AND p.time_bucket = c.time_bucket
    WHERE p.status = 'failed'
    UNION ALL
    SELECT c.log_id, c.timestamp, c.has_prompt, c.code_sketch, p.log_id, p.timestamp, p.code_sketch
    FROM loose c JOIN loose p ON p.task_key = c.task_key AND p.time_bucket = c.time_bucket - 1
    WHERE p.status = 'failed'
),
candidates AS (
    SELECT child_id, child_at, parent_id, parent_at, has_prompt,
           CASE WHEN len(child_sketch) > 0 AND len(parent_sketch) > 0
                THEN len(list_intersect(child_sketch, parent_sketch))
                     / len(list_distinct(list_concat(child_sketch, parent_sketch))) END AS similarity
    FROM pairs
    WHERE (parent_at < child_at OR (parent_at = child_at AND parent_id < child_id))
      AND epoch(child_at) - epoch(parent_at) <= {INFERENCE_GAP_SECONDS}
)
SELECT child_id, parent_id, similarity FROM candidates
WHERE similarity >= {{similarity}}
   OR (has_prompt AND coalesce(similarity, 1) >= {INFERENCE_SIMILARITY_SAME_PROMPT})
ORDER BY child_at, child_id, similarity DESC NULLS LAST, parent_at DESC, parent_id
"""


def retry_candidates_sql(similarity: float = INFERENCE_SIMILARITY) -> str:
    """The query of retry candidates (child_id, parent_id, similarity) at this similarity threshold."""
    return _RETRY_CANDIDATES_TEMPLATE.replace("{similarity}", repr(float(similarity)))


def choose_retries(candidates: list[tuple[str, str, float | None]]) -> list[tuple[str, str, float | None]]:
    """Each attempt's link to the failure it retries, from candidates ordered as retry_candidates_sql.

    Attempts are taken in time order, each linked to its most likely failure not retried yet: a
    failure is retried once, so a success ends its chain and a re-run after it stands alone.
    """
    retried: set[str] = set()
    links = []
    for child_id, group in itertools.groupby(candidates, key=lambda row: row[0]):
        for _, parent_id, similarity in group:
            if parent_id not in retried:
                retried.add(parent_id)
                links.append((child_id, parent_id, similarity))
                break
    return links


# ``inferred_links`` (child_id, parent_id, similarity) is the temporary table of choose_retries' links.
INFERRED_FACTS_SQL = f"""
CREATE OR REPLACE TABLE idx.attempt_inferred_facts AS
WITH RECURSIVE {_LOOSE_ATTEMPTS},
walk(log_id, root_id) AS (
    SELECT log_id, log_id FROM loose WHERE log_id NOT IN (SELECT child_id FROM inferred_links)
    UNION ALL
    SELECT l.child_id, w.root_id FROM inferred_links l JOIN walk w ON l.parent_id = w.log_id
),
keyed AS (
    SELECT c.*, coalesce(w.root_id, c.session_id) AS session_key,
           l.similarity AS inferred_similarity, l.parent_id AS inferred_previous_id
    FROM counted c LEFT JOIN walk w USING (log_id) LEFT JOIN inferred_links l ON l.child_id = c.log_id
),""" + _FACTS_BY_KEY.format(
    extra="k.session_key AS inferred_session_id, k.inferred_similarity, k.inferred_previous_id,"
)
INFERRED_LINKS_SQL = """
CREATE OR REPLACE TEMP TABLE inferred_links AS
SELECT unnest($children) AS child_id, unnest($parents) AS parent_id, CAST(unnest($similarities) AS DOUBLE) AS similarity
"""


def compute_inferred_facts(connection: Any, similarity: float = INFERENCE_SIMILARITY) -> None:
    """(Re)compute ``idx.attempt_inferred_facts`` on a connection with the index attached as ``idx``."""
    links = choose_retries(connection.execute(retry_candidates_sql(similarity)).fetchall())
    children, parents, similarities = (list(column) for column in zip(*links, strict=True)) if links else ([], [], [])
    connection.execute(INFERRED_LINKS_SQL, {"children": children, "parents": parents, "similarities": similarities})
    connection.execute(INFERRED_FACTS_SQL)
    connection.execute("DROP TABLE inferred_links")


EMPTY_INFERRED_FACTS_SQL = """
CREATE TABLE IF NOT EXISTS idx.attempt_inferred_facts (
    path VARCHAR, inferred_session_id VARCHAR, inferred_similarity DOUBLE, inferred_previous_id VARCHAR,
    is_fixed BOOLEAN, fixed_by_effective VARCHAR, fixed_at TIMESTAMP, attempt_no BIGINT, session_attempts BIGINT,
    first_success_no BIGINT)
"""

# Per attempt, of its session: ``first_success_no`` is the number of the session's first success
# (NULL without one), so that per-session numbers read one row per session (attempt_no = 1).
SESSION_FACTS = ("is_fixed", "fixed_by_effective", "fixed_at", "attempt_no", "session_attempts", "first_success_no")


def part_of_table(name: str, part: tuple[int, int] | None) -> str:
    """The index file's table ``name`` (``idx.name``), or with ``part`` (k, n) the k-th of n disjoint
    parts of its rows, split by a hash of their path (what copies made side by side read)."""
    if part is None:
        return f"idx.{name}"
    number, parts = (int(value) for value in part)
    return f"(SELECT * FROM idx.{name} WHERE hash(path) % {parts} = {number})"


def attempts_sql(inferred: bool, part: tuple[int, int] | None = None) -> str:
    """Every attempt that counts with the facts of the session mode, from the index file's tables.

    With ``inferred``, ``session_id`` and the session facts are the inferred ones; the logged
    session id is always there as ``logged_session_id``. With ``part`` (k, n), only the k-th of n
    disjoint parts of the attempts (by a hash of the path): parts are copied side by side. Logged
    sessions read the stored table ``counted_attempts``; inferred ones join their facts.
    """
    if not inferred:
        return f"SELECT * FROM {part_of_table('counted_attempts', part)}"
    facts = ", ".join(f"s.{name}" for name in SESSION_FACTS)
    return f"""
       SELECT a.* EXCLUDE (code_sketch) REPLACE (s.inferred_session_id AS session_id),
              a.session_id AS logged_session_id, f.copies, {facts}, s.inferred_similarity, s.inferred_previous_id,
              CAST(a.timestamp AS DATE) AS day
       FROM {part_of_table("attempt_files", part)} a
       JOIN {part_of_table("attempt_facts", part)} f USING (path)
       JOIN {part_of_table("attempt_inferred_facts", part)} s USING (path)"""


def _counted_attempts_select(scope: str = "", facts_table: str = "idx.attempt_facts") -> str:
    """Every attempt that counts, joined to its logged session's facts (``scope``: a condition on the
    attempt files ``a``; ``facts_table``: where the facts are): the rows of ``counted_attempts``."""
    facts = ", ".join(f"f.{name}" for name in SESSION_FACTS)
    return f"""
       SELECT a.* EXCLUDE (code_sketch), a.session_id AS logged_session_id, f.copies, {facts},
              CAST(NULL AS DOUBLE) AS inferred_similarity, CAST(NULL AS VARCHAR) AS inferred_previous_id,
              CAST(a.timestamp AS DATE) AS day
       FROM idx.attempt_files a
       JOIN {facts_table} f USING (path)
       {scope}"""


# ``counted_attempts`` is what queries of logged sessions read: attempt files and their facts joined
# once here, not by every query (at 1,000,000 sessions the join cost 0.3-0.5 s a query). Kept up to
# date with the facts: a small change replaces the rows of the sessions it touched. Not sorted: the
# rows come in by date directory already, and sorting them tripled the time of the table (5.0 s
# instead of 1.8 at 300,000 sessions) for no query measurably faster.
COUNTED_ATTEMPTS_SELECT = _counted_attempts_select()
COUNTED_ATTEMPTS_SQL = "CREATE OR REPLACE TABLE idx.counted_attempts AS " + COUNTED_ATTEMPTS_SELECT
UPDATE_COUNTED_ATTEMPTS_SQL = (
    "DELETE FROM idx.counted_attempts WHERE logged_session_id IN (SELECT session_id FROM affected_sessions)",
    "INSERT INTO idx.counted_attempts "
    + _counted_attempts_select("WHERE a.session_id IN (SELECT session_id FROM affected_sessions)", "changed_facts"),
    "DROP TABLE changed_facts",
)


UNLINKED_SHARE_SQL = (
    "SELECT CASE WHEN count(*) >= "
    + str(INFERENCE_MIN_ATTEMPTS)
    + " THEN avg(CASE WHEN unlinked THEN 1.0 ELSE 0.0 END) ELSE 0.0 END FROM {source}attempt_facts"
)
