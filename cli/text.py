"""The CLI's human output, in the original analyze_logs.py's look (70-character rules, its labels)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from loaders.analysis.rates import Rate, change_text, fixed_text
from loaders.analysis.stats import Difference
from loaders.core.rows import list_or_empty
from loaders.text.error_text import key_error_line
from loaders.text.secrets import clip

if TYPE_CHECKING:  # pandas is imported by DuckDB's .df() only when a frame is asked for
    import pandas as pd


RULE_WIDTH = 70
# How much of an error the lists show, after the runner's boilerplate prefix is dropped.
ERROR_WIDTH = 100


def concise_error(message: Any, width: int = ERROR_WIDTH, default: str = "No message") -> str:
    """The error's first line without the runner's prefix ("Script exited with code 1. Error: User code
    error: "), cut to ``width`` characters with "..." only when cut."""
    line = key_error_line(message, None) if isinstance(message, str) else None
    if not line:
        return default
    return line if len(line) <= width else line[: width - 3] + "..."


def section(title: str, char: str = "=") -> str:
    """A title centred between two 70-character rules, with a blank line around."""
    return f"\n{char * RULE_WIDTH}\n{title:^{RULE_WIDTH}}\n{char * RULE_WIDTH}\n"


def summary_text(summary: dict[str, Any]) -> str:
    """The summary block: the original's seven labels, each rate with what it rests on (its n and 95 %
    interval, or "too few"), the 7-day changes in words, sessions, skipped files and the window."""
    rates = {name: Rate(item["successes"], item["n"]) for name, item in summary["rates"].items()}
    first_try = {name: Rate(rates[name].successes, rates[name].n, "sessions") for name in rates if "first_try" in name}
    changes = {name: Difference(**item) for name, item in summary["changes"].items()}
    return "\n".join(
        [
            section("SCRIPT EXECUTION SUMMARY"),
            f"Total Failures:       {summary['total_failures']:>6}",
            f"Total Successes:      {summary['total_successes']:>6}",
            f"Unfixed Failures:     {summary['unfixed_failures']:>6}",
            f"Fixed Failures:       {summary['fixed_failures']:>6}",
            "",
            f"Overall Success Rate: {_rate(rates['overall_success_rate'])}",
            f"Recent Success (7d):  {_rate(rates['recent_success_rate_7d'])}",
            f"Recent Attempts (7d): {summary['recent_attempts_7d']:>6}",
            f"Change (7d):           {change_text(changes['success_rate_7d'])}",
            "",
            f"Sessions:             {summary['sessions']:>6}",
            f"First-Try Success:    {_rate(first_try['first_try_success_rate'])}",
            f"First-Try (7d):       {_rate(first_try['recent_first_try_success_rate_7d'])}",
            f"First-Try Change (7d): {change_text(changes['first_try_success_rate_7d'])}",
            f"Attempts to Success:  {_mean(summary['mean_attempts_to_success'])}",
            f"Skipped Files:        {summary['skipped_files']:>6}",
            f"(7-day window: {_minute(summary['window_start'])} to {_minute(summary['window_end'])}, "
            f"ending at {summary['window_rule']}; rates from fewer than {summary['min_n']} are not shown)",
            *(
                [f"(sessions are inferred: {summary.get('sessions_inferred_because')}; --sessions linked turns it off)"]
                if summary.get("sessions_inferred")
                else []
            ),
            "",
        ]
    )


def _rate(rate: Rate) -> str:
    """A rate right-aligned as the original printed it (its line unchanged for tools that read it), then on
    a line of its own what it rests on."""
    value = f"{rate.percent:>5.1f}%" if rate.enough and rate.percent is not None else "     -"
    return f"{value}\n{'':22}({rate.basis()})"


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _mean(value: float | None) -> str:
    return f"{value:>6.2f}" if value is not None else "     -"


COMPARE_ROWS = (
    ("success_rate", "Success rate", "%"),
    ("first_try_success_rate", "First-try success", "%"),
    ("fix_rate", "Fix rate", "%"),
    ("mean_attempts_to_success", "Attempts to success", ""),
)


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}{unit}" if unit else f"{value:.2f}"


def compare_text(data: dict[str, Any]) -> str:
    """Two cohorts side by side: each metric's A and B (with counts), B - A and its 95 % interval,
    the sentences, and the fingerprints that appeared, disappeared or moved (per 100 attempts)."""
    cohorts = data["cohorts"]
    lines = [
        section("COMPARE COHORTS"),
        f"A: {data['a'] or '(all)'}  ({cohorts['a']['sessions']} sessions, {cohorts['a']['attempts']} attempts)",
        f"B: {data['b'] or '(all)'}  ({cohorts['b']['sessions']} sessions, {cohorts['b']['attempts']} attempts)",
        "",
        f"{'':<20} {'A':>15} {'B':>15} {'B - A':>8}  95% interval",
    ]
    for name, label, unit in COMPARE_ROWS:
        m = data["metrics"][name]
        a = f"{_value(m['a'], unit)} (n={m['n_a']})"
        b = f"{_value(m['b'], unit)} (n={m['n_b']})"
        delta = "-" if m["delta"] is None else f"{m['delta']:+.1f}" if unit else f"{m['delta']:+.2f}"
        digits = 1 if unit else 2
        interval = "-" if m["ci_low"] is None else f"{m['ci_low']:+.{digits}f} to {m['ci_high']:+.{digits}f}"
        mark = "  significant" if m["significant"] else ""
        lines.append(f"{label:<20} {a:>15} {b:>15} {delta:>8}  {interval}{mark}")
    lines += ["", *data["sentences"]]
    for kind in ("appeared", "disappeared", "moved"):
        rows = data[kind]
        lines += ["", f"Fingerprints that {kind} (failures per 100 attempts, A -> B):"]
        if not rows:
            lines.append("  none")
        for row in rows:
            error = concise_error(row["example_error"], 70)
            lines.append(f"  {row['per_100_a']:5.1f} -> {row['per_100_b']:5.1f}  {row['fingerprint']}  {error}")
    return "\n".join(lines) + "\n"


def markers_text(markers: list[Any]) -> str:
    """The change markers, oldest first: time and label."""
    lines = [section("CHANGE MARKERS")]
    if not markers:
        lines.append('No markers yet: analyze_logs.py mark "what changed" records one.')
    lines += [f"{marker.at:%Y-%m-%d %H:%M:%S}  {marker.label}" for marker in markers]
    return "\n".join(lines) + "\n"


def alerts_text(alerts: list[dict[str, Any]]) -> str:
    """What ``check`` found, one line each with the dashboard path; or that nothing is new."""
    if not alerts:
        return "Fixtrail: nothing new since the last check."
    lines = [f"Fixtrail: {len(alerts)} new alert{'s' if len(alerts) != 1 else ''}"]
    lines += [f"- {alert['text']} ({alert['link']})" for alert in alerts]
    return "\n".join(lines)


def _stored_as(stored: dict[str, int]) -> str:
    return ", ".join(f"{category} {count}" for category, count in stored.items())


def error_patterns_text(patterns: list[dict[str, Any]]) -> str:
    """Numbered error categories (derived from the exception class) with the stored ones and two examples each."""
    lines = [section("COMMON ERROR PATTERNS")]
    if not patterns:
        return "\n".join([*lines, "No error patterns found.", ""])
    for i, pattern in enumerate(patterns[:10], 1):
        lines += [
            f"{i}. {pattern['category'].upper().replace('_', ' ')}",
            f"   Count: {pattern['count']}"
            + (f" (stored as {_stored_as(pattern['stored_categories'])})" if pattern.get("stored_categories") else ""),
            "   Examples:",
        ]
        for example in pattern["examples"][:2]:
            status = "FIXED" if example["fixed"] else "UNFIXED"
            lines.append(f"     - {concise_error(example['error_message'])} [{status}]")
        lines.append("")
    return "\n".join(lines)


def fingerprints_text(marks: pd.DataFrame, states: dict[str, dict[str, Any]] | None = None) -> str:
    """Failures grouped by fingerprint: count, sessions, fix rate, first and last seen, state this week."""
    lines = [section("MOST COMMON SPECIFIC ERRORS (BY FINGERPRINT)")]
    if marks.empty:
        return "\n".join([*lines, "No common errors found.", ""])
    for i, row in enumerate(marks.head(10).itertuples(), 1):
        lines += [
            f"{i}. {clip(row.example_error, 80)}",
            f"   Occurrences: {row.count}  |  {fixed_text(row.count - row.unfixed, row.count)}"
            f"  |  Sessions: {row.sessions}  |  Fingerprint: {row.fingerprint}",
            f"   To fix: {_to_fix(row.mean_attempts_to_fix, row.mean_seconds_to_fix)}",
            f"   First seen: {row.first_seen:%Y-%m-%d %H:%M}  |  Last seen: {row.last_seen:%Y-%m-%d %H:%M}"
            + _state_text((states or {}).get(row.fingerprint)),
            "",
        ]
    return "\n".join(lines)


def _to_fix(mean_attempts: float, mean_seconds: float) -> str:
    """Mean attempts and seconds to the fix; "never fixed" once when neither is known (NaN: no fix yet)."""
    known = ((mean_attempts, "attempts"), (mean_seconds, "s"))
    parts = [f"{value:.1f} {unit}" for value, unit in known if value == value]
    return ", ".join(parts) or "never fixed"


def _state_text(state: dict[str, Any] | None) -> str:
    if not state:
        return ""
    return f"  |  This week: {state['state'].upper()} ({state['count_7d']}, {state['change']:+d})"


def fix_rules_text(rules: list[dict[str, Any]], limit: int = 10) -> str:
    """Numbered fix recipes: what changed from a failure to the success, with support and success rate."""
    lines = [section("FIX RECIPES (WHAT FIXED FAILURES)")]
    if not rules:
        return "\n".join([*lines, "No recipe yet: no recognised change fixed a failure.", ""])
    for i, rule in enumerate(rules[:limit], 1):
        lines.append(f"{i}. [{rule['kind']}] {rule['text']}")
    lines.append("")
    return "\n".join(lines)


def library_text(libraries: dict[str, Any]) -> str:
    """Libraries with failures, each with two recent errors."""
    lines = [section("LIBRARY-SPECIFIC ISSUES")]
    issues = libraries["libraries_with_issues"]
    if not issues:
        return "\n".join([*lines, "No library issues found.", ""])
    for issue in issues[:10]:
        lines += [f"• {issue['library']}", f"  Errors: {issue['count']}"]
        if issue["errors"]:
            lines.append("  Recent errors:")
            lines += [f"    [{'✓' if e['fixed'] else '✗'}] {clip(e['error'], 70)}" for e in issue["errors"][:2]]
        lines.append("")
    return "\n".join(lines)


def bridge_text(bridge: dict[str, Any]) -> str:
    """MapsBridge failures by kind, with recent examples."""
    lines = [
        section("MAPBRIDGE-SPECIFIC ISSUES"),
        f"Request Type Errors:    {bridge['request_type_errors']}",
        f"Stdin Parsing Errors:   {bridge['stdin_parsing_errors']}",
        f"Output Errors:          {bridge['output_errors']}",
        f"Channel Errors:         {bridge['channel_errors']}",
        f"Other Errors:           {bridge['other_errors']}",
        "",
    ]
    if bridge["examples"]:
        lines.append("Recent Examples:")
        lines += [
            f"  [{'✓' if e['fixed'] else '✗'}] [{e['category']}] {clip(e['error'], 60)}" for e in bridge["examples"][:5]
        ]
        lines.append("")
    return "\n".join(lines)


def recommendations_text(advice: list[str], learning_summary: str) -> str:
    """Numbered recommendations, then the AI learning summary."""
    lines = [section("RECOMMENDATIONS FOR IMPROVEMENT")]
    if not advice:
        lines.append("No recommendations at this time. Great job!")
    for i, text in enumerate(advice, 1):
        lines += [f"{i}. {text}", ""]
    lines += [section("AI LEARNING SUMMARY"), learning_summary, ""]
    return "\n".join(lines)


def unfixed_text(unfixed: pd.DataFrame, as_of: datetime, limit: int = 20) -> str:
    """Unfixed failures, newest first, with age, session and prompt."""
    lines = [section("UNFIXED FAILURES")]
    if unfixed.empty:
        return "\n".join([*lines, "✓ No unfixed failures! All errors have been resolved.", ""])
    lines.append(f"Found {len(unfixed)} unfixed failure(s):\n")
    for i, row in enumerate(unfixed.head(limit).itertuples(), 1):
        age = as_of - row.timestamp.to_pydatetime()
        lines += [
            f"{i}. [{row.category}] {_text(row.error_type, 'Unknown')}",
            f"   Log ID: {row.log_id}",
            f"   Session: {row.session_id}",
            f"   Time: {row.timestamp:%Y-%m-%d %H:%M:%S} ({age.days}d {age.seconds // 3600}h ago)",
            f"   Error: {concise_error(row.error_message)}",
        ]
        if _text(row.user_prompt, ""):
            lines.append(f"   Prompt: {clip(row.user_prompt, 60)}")
        lines.append("")
    if len(unfixed) > limit:
        lines.append(f"... and {len(unfixed) - limit} more (use --json for all)\n")
    return "\n".join(lines)


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def session_text(
    session_id: str,
    attempts: pd.DataFrame,
    session_file: dict[str, Any] | None,
    missing: list[str],
    records: list[dict[str, Any] | None],
) -> str:
    """The session header and its numbered attempt history, times as the logs write them (ISO 8601)."""
    first_record = next((r for r in records if r), None)
    created = (session_file or {}).get("created_at") or (first_record or {}).get("timestamp")
    if created is None and len(attempts):
        created = attempts["timestamp"].min()
    resolved = (attempts["status"] == "success").any()
    lines = [
        section(f"SESSION: {session_id}"),
        f"Created: {iso_text(created)}",
        f"Status: {'RESOLVED' if resolved else 'IN_PROGRESS'}",
    ]
    if session_file and session_file.get("resolved_at"):
        lines.append(f"Resolved: {iso_text(session_file['resolved_at'])}")
    lines += [f"Attempts: {len(attempts)}", ""]
    if missing:
        lines += [f"Listed in the session file but missing: {', '.join(missing)}", ""]
    lines += ["Attempt History:", "-" * RULE_WIDTH]
    for i, (row, record) in enumerate(zip(attempts.itertuples(), records, strict=False), 1):
        written = (record or {}).get("timestamp")
        lines += [
            f"{i}. {row.status.upper()}",
            f"   Log ID: {row.log_id}",
            f"   Time: {written if isinstance(written, str) else iso_text(row.timestamp)}",
        ]
        if row.status == "failed":
            message = _text((record or {}).get("error_message"), "") or _text(row.error_line, "")
            lines.append(f"   Error: {concise_error(message)}")
        else:
            outputs = list_or_empty(row.output_files)
            lines.append(f"   Output: {', '.join(map(str, outputs))}")
        lines.append("")
    return "\n".join(lines)


def iso_text(value: Any) -> str:
    """A time as ISO 8601 text (microseconds kept); text as it is."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return "" if value is None else str(value)


def context_text(context: str) -> str:
    """The AI context under its section title."""
    return section("AI CONTEXT (For Improving Script Generation)") + "\n" + (context or "(no failures yet)") + "\n"
