"""The full report's sections that do not depend on the 7-day window: error patterns, common errors,
fix strategies, library and bridge issues, recommendations and the AI learning summary, skipped files.

Every section comes from the index queries of loaders.analysis; no file is read here except the few
attempts quoted as examples. loaders.outputs.report_sections keeps them per index version, and
loaders.outputs.report puts them in the full report.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from loaders.analysis import errors, fixes, sessions
from loaders.analysis.attempts import fixed_of_attempts, sessions_of_attempts
from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.rates import Rate, fixed_text
from loaders.analysis.recipes import fix_rules, instead
from loaders.analysis.transitions import cancelled_by
from loaders.core.rows import frame_records, list_or_empty, plain_rows, text_or_none
from loaders.store.index import LogIndex
from loaders.store.stored_results import stored_result
from loaders.text import error_text
from loaders.text.domain import BRIDGE_REPORT_KEYS
from loaders.text.secrets import clip

# The report's lists that grow with the tree (abandoned sessions, silent successes) hold their newest
# this many, with how many there are in all beside (``..._total``): at 1,000,000 sessions the abandoned
# sessions alone were 43 MB of the API's /analysis. The dashboard's Sessions page lists them all.
REPORT_LIST_ROWS = 100

PATTERN_EXAMPLES_SQL = """
SELECT category, coalesce(error_category, 'unknown') AS stored_category, log_id, error_message, timestamp, is_fixed
FROM attempts WHERE status = 'failed' AND {where}
QUALIFY row_number() OVER (PARTITION BY category ORDER BY timestamp, log_id) <= 3
"""
STORED_CATEGORIES_SQL = """
SELECT category, coalesce(error_category, 'unknown') AS stored_category, count(*) AS count
FROM attempts WHERE status = 'failed' AND {where}
GROUP BY ALL ORDER BY category, count DESC, stored_category
"""

BRIDGE_ISSUES_SQL = """
SELECT bridge_issue, count(*) AS count FROM attempts
WHERE status = 'failed' AND bridge_issue IS NOT NULL AND {where} GROUP BY 1
"""

# The newest examples of each kind (two each: every kind has one to link to), newest first, ten at most.
BRIDGE_EXAMPLES_SQL = """
SELECT log_id, category, error, fixed FROM (
    SELECT log_id, bridge_issue AS category, coalesce(error_line, 'Unknown error') AS error, is_fixed AS fixed,
           timestamp
    FROM attempts WHERE status = 'failed' AND bridge_issue IS NOT NULL AND {where}
    QUALIFY row_number() OVER (PARTITION BY bridge_issue ORDER BY timestamp DESC, log_id) <= 2
)
ORDER BY timestamp DESC, log_id LIMIT 10
"""


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def error_patterns(index: LogIndex, flt: AttemptFilter = ALL) -> list[dict[str, Any]]:
    """The original's error_patterns, led by the derived categories (from the exception class, so a
    NameError is ``name_error``, not the original classifier's ``unknown``): the top 10, each with
    up to 3 examples. ``stored_category`` is the category the writer stored most often in the group
    (``stored_categories`` has every one with its count); each example carries its own.
    """
    categories = errors.error_categories(index, flt, which="derived").head(10)
    where, params = flt.where()
    examples = index.frame(PATTERN_EXAMPLES_SQL.format(where=where), params)
    stored = index.frame(STORED_CATEGORIES_SQL.format(where=where), params)
    patterns = []
    for row in categories.itertuples():
        rows = examples[examples["category"] == row.category]
        stored_counts = stored[stored["category"] == row.category]
        patterns.append(
            {
                "category": row.category,
                "stored_category": stored_counts["stored_category"].iloc[0] if len(stored_counts) else None,
                "stored_categories": dict(
                    zip(stored_counts["stored_category"], map(int, stored_counts["count"]), strict=True)
                ),
                "count": int(row.count),
                "fixed": int(row.fixed),
                "examples": [
                    {
                        "log_id": ex.log_id,
                        "error_message": clip(ex.error_message, 200),
                        "timestamp": _iso(ex.timestamp),
                        "fixed": bool(ex.is_fixed),
                        "stored_category": text_or_none(ex.stored_category),
                    }
                    for ex in rows.itertuples()
                ],
            }
        )
    return patterns


def common_errors(index: LogIndex, flt: AttemptFilter = ALL, limit: int = 15) -> list[dict[str, Any]]:
    """The original's common_errors: key error lines with count, fixed_count, fix_rate, examples (with fixed)."""
    top = errors.top_errors(index, flt, limit)
    fixed = fixed_of_attempts(index, [log_id for ids in top["example_log_ids"] for log_id in ids])
    return [
        {
            "error": row.error,
            "count": int(row.count),
            "fixed_count": int(row.fixed_count),
            "examples": [
                {"log_id": log_id, "session_id": session_id, "fixed": fixed.get(log_id, False)}
                for log_id, session_id in zip(row.example_log_ids, row.example_sessions, strict=False)
            ],
            "fix_rate": float(row.fix_rate),
            "fix_rate_basis": Rate(int(row.fixed_count), int(row.count), "failures").as_dict(),
            "category": row.category,
            "first_seen": _iso(row.first_seen),
            "last_seen": _iso(row.last_seen),
        }
        for row in top.itertuples()
    ]


IMPORT_COLUMNS = ["removed_imports", "added_imports"]


def fix_strategies(fix_shapes: pd.DataFrame) -> list[dict[str, Any]]:
    """The original's fix_strategies: per stored category, fixes counted and their import changes
    (``fix_shapes``: loaders.analysis.fixes.fix_shapes)."""
    columns = ["error_category", "added_imports", "removed_imports", "failed_code_lines", "fixed_code_lines", "fixes"]
    # Fixes of one category mostly share their import changes and size change: each distinct shape
    # is counted, then described once (fix_shapes counts them in DuckDB: 111,298 fixes of the bench's
    # 100,000 sessions are 48 rows).
    shapes: dict[Any, Counter[tuple]] = {}
    for row in plain_rows(fix_shapes, columns):
        shape = (
            tuple(row.added_imports),
            tuple(row.removed_imports),
            fixes.size_change(row.failed_code_lines, row.fixed_code_lines),
        )
        shapes.setdefault(row.error_category, Counter())[shape] += int(row.fixes)
    strategies = []
    for category, counted in sorted(shapes.items(), key=lambda item: str(item[0])):
        changes: Counter[str] = Counter()
        summaries: Counter[str] = Counter()
        for (added, removed, size), count in counted.items():
            for name in added:
                changes[f"added import {name}"] += count
            for name in removed:
                changes[f"removed import {name}"] += count
            for words in fixes.change_summary(added, removed, size):
                summaries[words] += count
        strategies.append(
            {
                "error_type": category,
                "error_category": category,
                "fix_count": sum(counted.values()),
                "common_changes": [[change, count] for change, count in sorted(changes.items(), key=_by_count)[:5]],
                "changes": {"summary": [text for text, _ in sorted(summaries.items(), key=_by_count)[:3]]},
            }
        )
    return sorted(strategies, key=lambda item: (-item["fix_count"], item["error_type"]))


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def library_report(index: LogIndex, flt: AttemptFilter = ALL) -> dict[str, Any]:
    """The original's library_issues: {"libraries_with_issues": [{library, count, errors}]} in the original's
    meaning (``count``: failures of attempts using the library; ``errors``: the newest of them), and
    Fixtrail's beside them: ``blamed`` (failures laid at it) with ``blamed_errors``, attempts,
    failure_rate (blamed per attempt using it), import_failures, usage_share."""
    libraries = errors.library_failures(index, flt)

    def examples(log_ids: Any, texts: Any, fixed: Any) -> list[dict[str, Any]]:
        """The examples of one library (a list is null when it has none)."""
        return [
            {"log_id": log_id, "error": clip(error, 150), "fixed": bool(done)}
            for log_id, error, done in zip(
                list_or_empty(log_ids), list_or_empty(texts), list_or_empty(fixed), strict=True
            )
        ]

    return {
        "libraries_with_issues": [
            {
                "library": row.library,
                "count": int(row.failures_using),
                "errors": examples(row.using_log_ids, row.using_errors, row.using_fixed),
                "blamed": int(row.failures),
                "blamed_errors": examples(row.example_log_ids, row.example_errors, row.example_fixed),
                "attempts": int(row.attempts),
                "failure_rate": float(row.failure_rate),
                "import_failures": int(row.import_failures),
                "usage_share": float(row.usage_share),
                "failures_using": int(row.failures_using),
            }
            for row in libraries.itertuples()
        ]
    }


def bridge_report(index: LogIndex, flt: AttemptFilter = ALL) -> dict[str, Any]:
    """The original's mapbridge_issues: failures of bridge-using code by kind, with examples."""
    where, params = flt.where()
    counts = dict(index.cursor().execute(BRIDGE_ISSUES_SQL.format(where=where), params).fetchall())
    report: dict[str, Any] = {key: int(counts.get(kind, 0)) for key, kind in BRIDGE_REPORT_KEYS}
    examples = index.frame(BRIDGE_EXAMPLES_SQL.format(where=where), params)
    report["examples"] = [
        {"log_id": ex.log_id, "category": ex.category, "error": clip(ex.error, 150), "fixed": bool(ex.fixed)}
        for ex in examples.itertuples()
    ]
    return report


RECIPE_MIN_FIXES = 3
STDIN_KIND = dict(BRIDGE_REPORT_KEYS)["stdin_parsing_errors"]


def _priority(share: float) -> str:
    return "HIGH PRIORITY" if share >= 20 else "MEDIUM PRIORITY" if share >= 8 else "LOW PRIORITY"


# How urgent each kind of advice is: the order the dashboard lists it in (most urgent first).
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class Advice:
    """One recommendation: its text, its level (one of LEVELS) and where to see an example of it.

    ``fingerprint`` names the error it is about, ``log_id`` and ``session_id`` an example attempt.
    """

    text: str
    level: str
    fingerprint: str | None = None
    log_id: str | None = None
    session_id: str | None = None


def _fingerprint_of(error_line: str | None) -> str | None:
    return error_text.fingerprint(error_text.error_signature(error_line)) if error_line else None


def recommendation_items(
    categories: pd.DataFrame,
    top: list[dict[str, Any]],
    libraries: dict[str, Any],
    bridge: dict[str, Any],
    shapes: pd.DataFrame,
    rules: pd.DataFrame | None = None,
) -> list[Advice]:
    """The recommendations (see ``recommendations``) with their level and an example each, in the
    report's order: top categories, fix recipes, missing libraries, bridge input. Each lesson is said
    once: a missing library that a recipe replaces is named on the recipe's card."""
    advice = []
    for row in categories.head(3).itertuples():
        example = next((e for e in top if e.get("category") == row.category), None)
        text = (
            f"{_priority(row.share)}: {int(row.count)} {row.category.replace('_', ' ')} failures "
            f"({row.share:.0f}% of failures, {row.fixed_share:.0f}% fixed)."
        )
        first = (example or {}).get("examples") or [{}]
        if example:
            text += f" Most frequent: {clip(example['error'], 120)}"
        advice.append(
            Advice(
                text,
                _priority(row.share).split()[0],
                _fingerprint_of(example["error"]) if example else None,
                first[0].get("log_id"),
                first[0].get("session_id"),
            )
        )
    recipes = [] if rules is None else rules[rules["fixes"] >= RECIPE_MIN_FIXES].head(3).to_dict("records")
    # A library that could not be imported, whose lesson a recipe already teaches (don't import cv2, use
    # skimage), is said once: on the recipe's card.
    import_failures = {lib["library"]: lib for lib in libraries["libraries_with_issues"] if lib["import_failures"]}
    taught = {rule["old"] for rule in recipes if rule["kind"] in ("import", "drop_import")} & set(import_failures)
    said: set[str] = set()
    for rule in recipes:
        fingerprints = list(rule["fingerprints"] or [])
        sessions = list(rule["example_sessions"] or [])
        missing = rule["kind"] in ("import", "drop_import") and rule["old"] in taught
        text = f"FIX RECIPE ({rule['text']}): tell the model: {instead(rule, '', not_installed=missing)}"
        if missing and rule["old"] not in said:  # the count once, on the first recipe replacing it
            said.add(rule["old"])
            failures = import_failures[rule["old"]]["import_failures"]
            text += f" {rule['old']} could not be imported in {failures} failures."
        first_session = sessions[0] if sessions else None
        advice.append(Advice(text, "HIGH", fingerprints[0] if fingerprints else None, session_id=first_session))
    replacements_of = _import_replacements(shapes)
    for name, lib in import_failures.items():
        if name in taught:
            continue
        replacements = replacements_of.get(name)
        text = (
            f"LIBRARY ISSUE: {name} could not be imported in {lib['import_failures']} failures. "
            f"Tell the model it is not installed."
        )
        if replacements:
            replacement, count = sorted(replacements.items(), key=_by_count)[0]
            text += f" Fixes used {replacement} instead ({count} fixes)."
        example = (lib["blamed_errors"] or [{}])[0]
        advice.append(Advice(text, "HIGH", _fingerprint_of(example.get("error")), example.get("log_id")))
    if bridge["stdin_parsing_errors"] > 5:  # its example is one of its own kind (not the newest of any kind)
        example = next((e for e in bridge["examples"] if e["category"] == STDIN_KIND), {})
        advice.append(
            Advice(
                f"CRITICAL: {bridge['stdin_parsing_errors']} stdin parsing errors. Tell the model to read the request "
                "with MapsBridge.FromStdIn() and never parse stdin itself.",
                "CRITICAL",
                _fingerprint_of(example.get("error")),
                example.get("log_id"),
            )
        )
    return advice


def _import_replacements(fix_shapes: pd.DataFrame) -> dict[str, Counter]:
    """For each module a fix removed, how often each module was added in its place (one pass over
    the shapes of fixes: loaders.analysis.fixes.fix_shapes)."""
    replacements: defaultdict[str, Counter] = defaultdict(Counter)
    for shape in plain_rows(fix_shapes, [*IMPORT_COLUMNS, "fixes"]):
        if len(shape.added_imports):  # lists, or arrays from a frame
            for removed in set(shape.removed_imports):
                for added in shape.added_imports:
                    replacements[removed][added] += int(shape.fixes)
    return replacements


def recommendations(
    categories: pd.DataFrame,
    top: list[dict[str, Any]],
    libraries: dict[str, Any],
    bridge: dict[str, Any],
    shapes: pd.DataFrame,
    rules: pd.DataFrame | None = None,
) -> list[str]:
    """Recommendations computed from the data: top categories, fix recipes, missing libraries, bridge input."""
    return [item.text for item in recommendation_items(categories, top, libraries, bridge, shapes, rules)]


def prioritised_recommendations(index: LogIndex, flt: AttemptFilter = ALL) -> pd.DataFrame:
    """The report's recommendations, most urgent first (CRITICAL, HIGH, MEDIUM, LOW; the report's
    order within a level), each with an example to open.

    Output columns: level, text, fingerprint (the error it is about, or None), log_id and
    session_id (an example attempt and its session, or None). Worked out once per index version.
    """
    records = stored_result(index, "report.prioritised_recommendations", (flt,), lambda: _prioritised(index, flt))
    return pd.DataFrame(records, columns=["level", "text", "fingerprint", "log_id", "session_id"])


def _prioritised(index: LogIndex, flt: AttemptFilter) -> list[dict[str, Any]]:
    shapes = fixes.fix_shapes(index, flt)
    items = recommendation_items(
        errors.error_categories(index, flt),
        common_errors(index, flt),
        library_report(index, flt),
        bridge_report(index, flt),
        shapes,
        fix_rules(index, flt, min_fixes=1),
    )
    frame = pd.DataFrame(
        [dataclasses.asdict(item) for item in items], columns=["text", "level", "fingerprint", "log_id", "session_id"]
    )
    known = sessions_of_attempts(index, [i for i in frame["log_id"] if isinstance(i, str)])
    frame["session_id"] = [
        session if isinstance(session, str) else known.get(log_id)
        for session, log_id in zip(frame["session_id"], frame["log_id"], strict=True)
    ]
    frame["rank"] = frame["level"].map(LEVELS.index)
    frame = frame.sort_values("rank", kind="stable").drop(columns="rank")
    return frame_records(frame[["level", "text", "fingerprint", "log_id", "session_id"]])


def ai_learning_summary(
    top: list[dict[str, Any]], libraries: dict[str, Any], advice: list[str], strategies: list[dict[str, Any]]
) -> str:
    """The original's ai_learning_summary text, from the report's own sections."""
    lines = ["=== SCRIPT GENERATION LEARNINGS FROM EXECUTION LOGS ===", ""]
    if top:
        lines.append("MOST COMMON ERRORS TO AVOID:")
        lines += [
            f"{i}. {e['error']} ({e['count']} occurrences, {fixed_text(e['fixed_count'], e['count'])})"
            for i, e in enumerate(top[:5], 1)
        ]
        lines.append("")
    if libraries["libraries_with_issues"]:
        lines.append("LIBRARY-SPECIFIC ISSUES:")
        lines += [f"- {lib['library']}: {lib['count']} errors" for lib in libraries["libraries_with_issues"][:5]]
        lines.append("")
    if advice:
        lines.append("RECOMMENDATIONS FOR SYSTEM_CONTEXT:")
        lines += [f"- {text}" for text in advice[:5]]
        lines.append("")
    # "code revision" alone (the original's words for a fix with no import or size change) tells the
    # model nothing: such patterns are left out of what it is told.
    told = [
        (s["error_category"], [words for words in s["changes"]["summary"] if words != fixes.UNDESCRIBED_FIX])
        for s in strategies
    ]
    told = [(category, words) for category, words in told if words]
    if told:
        lines.append("SUCCESSFUL FIX PATTERNS:")
        lines += [
            f"{i}. {category} errors fixed by: {', '.join(words)}" for i, (category, words) in enumerate(told[:3], 1)
        ]
        lines.append("")
    lines.append("=== END LEARNINGS ===")
    return "\n".join(lines)


def compute_sections(index: LogIndex, flt: AttemptFilter) -> dict[str, Any]:
    """Work out report_sections() (loaders.outputs.report_sections, which keeps them per index version).

    The fix rules are worked out in a thread of their own while the other sections are here: on a
    first report they wait for the parse workers to read the transitions' files, and this
    process's queries use the time (1.57 -> 1.36 s at 20,000 sessions). When a section here fails
    (or Ctrl-C interrupts it), the rules stop after the piece of work in hand instead of holding the
    error back until every file is read.
    """
    stop = threading.Event()

    def rules() -> pd.DataFrame:
        with cancelled_by(stop):
            return fix_rules(index, flt, min_fixes=1)  # seen-once rules too, said as low confidence

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fix-rules")
    pending_rules = executor.submit(rules)
    try:
        return _sections(index, flt, pending_rules)
    except BaseException:
        stop.set()
        raise
    finally:
        executor.shutdown(wait=True)


def _sections(index: LogIndex, flt: AttemptFilter, pending_rules: Future[pd.DataFrame]) -> dict[str, Any]:
    shapes = fixes.fix_shapes(index, flt)
    top = common_errors(index, flt)
    libraries = library_report(index, flt)
    bridge = bridge_report(index, flt)
    strategies = fix_strategies(shapes)
    categories = errors.error_categories(index, flt)
    patterns = error_patterns(index, flt)
    skipped = skipped_files(index)
    silent = sessions.silent_successes(index, flt, limit=REPORT_LIST_ROWS)
    rules = pending_rules.result()
    advice = recommendations(categories, top, libraries, bridge, shapes, rules)
    return {
        "error_patterns": patterns,
        "common_errors": top,
        "fix_strategies": strategies,
        "library_issues": libraries,
        "mapbridge_issues": bridge,
        "recommendations": advice,
        "ai_learning_summary": ai_learning_summary(top, libraries, advice, strategies),
        "skipped_files": skipped,
        "fix_rules": frame_records(rules.drop(columns=["fingerprint_fixes"])),
        "silent_successes": frame_records(silent),
        "silent_successes_total": silent.attrs["total"],
    }


SKIPPED_SQL = "SELECT path, folder, reason, size FROM skipped_files ORDER BY path"


def skipped_files(index: LogIndex) -> list[dict[str, Any]]:
    """Files that are not records, each with path, folder, reason and size."""
    return [
        {"path": path, "folder": folder, "reason": reason, "size": int(size)}
        for path, folder, reason, size in index.cursor().execute(SKIPPED_SQL).fetchall()
    ]
