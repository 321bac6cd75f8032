"""Fix recipes: rules drawn from what changed from each failed attempt to the next attempt of its session.

A transition is a failed attempt and the attempt that followed it in the same session (linked or
inferred); what changed in it (imports added and removed, names and constant subscripts replaced)
is worked out and recorded by ``loaders.analysis.transitions``. Rules aggregate the changes: "cv2 ->
skimage: 14 fixes, 93%" (14 transitions with that change ended in a success, out of 15 that made it).
"""

from __future__ import annotations

import difflib
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd

from loaders.analysis.filters import ALL, AttemptFilter
from loaders.analysis.transitions import changed_transitions
from loaders.core.rows import plain_batch_rows
from loaders.ingest.code_changes import describe_change
from loaders.store.index import LogIndex
from loaders.store.stored_results import stored_result
from loaders.text.error_text import missing_module

if TYPE_CHECKING:
    import pyarrow as pa

MAX_SWAP_NAMES = 4  # a transition that renames more than this rewrote the script: no name rule from it
NAME_SIMILARITY = 0.75  # int -> min (0.67) is a coincidence; rgb_arr -> rgb_array (0.88) a rename


@dataclass(frozen=True)
class Change:
    """One kind of edit: ``import`` (old module -> new), ``drop_import``, ``name`` or ``subscript``."""

    kind: str
    old: str
    new: str | None

    def describe(self) -> str:
        """The change in words, as rules and the AI context show it."""
        if self.kind == "import":
            return f"{self.old} -> {self.new}"
        if self.kind == "drop_import":
            return f"drop import {self.old}"
        return f"{self.old} -> {self.new}"


def _paired_names(removed: list[str], added: list[str]) -> list[tuple[str, str]]:
    """Removed and added names that look like one renamed into the other (most similar first)."""
    if not removed or not added or len(removed) > MAX_SWAP_NAMES or len(added) > MAX_SWAP_NAMES:
        return []
    pairs, used = [], set()
    scored = sorted(((_name_similarity(old, new), old, new) for old in removed for new in added), reverse=True)
    for ratio, old, new in scored:
        if ratio < NAME_SIMILARITY or old in used or new in used:
            continue
        pairs.append((old, new))
        used.update((old, new))
    return pairs


@functools.lru_cache(maxsize=65_536)
def _name_similarity(old: str, new: str) -> float:
    """difflib's ratio of two names (the same pairs come back in transition after transition)."""
    return difflib.SequenceMatcher(None, old, new).ratio()


def changes_of(row: Any) -> list[Change]:
    """The recognisable edits of one transition (a row of loaders.analysis.transitions.transition_changes())."""
    found = [Change("import", old, new) for old in row.removed_imports for new in row.added_imports]
    if not row.added_imports:
        found += [Change("drop_import", old, None) for old in row.removed_imports]
    module_words = set(row.removed_imports) | set(row.added_imports)
    removed_names = [t for t in row.removed_tokens if not t.startswith("[") and t not in module_words]
    added_names = [t for t in row.added_tokens if not t.startswith("[") and t not in module_words]
    found += [Change("name", old, new) for old, new in _paired_names(removed_names, added_names)]
    removed_subs = [t for t in row.removed_tokens if t.startswith("[")]
    added_subs = [t for t in row.added_tokens if t.startswith("[")]
    if len(removed_subs) == 1 and len(added_subs) == 1:
        found.append(Change("subscript", removed_subs[0], added_subs[0]))
    return found


@dataclass
class _Tally:
    fixes: Counter = None  # type: ignore[assignment]
    tries: Counter = None  # type: ignore[assignment]
    by_fingerprint: defaultdict = None  # type: ignore[assignment]
    sessions: defaultdict = None  # type: ignore[assignment]


def _tally(changed: pa.RecordBatchReader) -> _Tally:
    """Count each edit's tries and fixes over the transitions (changed_transitions), a batch at a time."""
    tally = _Tally(Counter(), Counter(), defaultdict(Counter), defaultdict(list))
    columns = [
        "removed_imports",
        "added_imports",
        "removed_tokens",
        "added_tokens",
        "fixed",
        "fingerprint",
        "session_id",
    ]
    for batch in changed:
        _tally_rows(tally, plain_batch_rows(batch, columns))
    return tally


def _tally_rows(tally: _Tally, rows: list[Any]) -> None:
    for row in rows:
        for change in set(changes_of(row)):
            tally.tries[change] += 1
            if row.fixed:
                tally.fixes[change] += 1
                if isinstance(row.fingerprint, str):
                    tally.by_fingerprint[change][row.fingerprint] += 1
                if len(tally.sessions[change]) < 3:
                    tally.sessions[change].append(row.session_id)


KIND_PRIORITY = {"import": 0, "drop_import": 1, "name": 2, "subscript": 3}
RULE_COLUMNS = [
    "kind",
    "old",
    "new",
    "change",
    "fixes",
    "tries",
    "success_rate",
    "fingerprints",
    "fingerprint_fixes",
    "example_sessions",
    "text",
]


def recognised_edits(before: str, after: str) -> list[str]:
    """The recognisable edits between two versions of a script, in words ("cv2 -> skimage")."""
    return [edit.describe() for edit in changes_of(SimpleNamespace(**describe_change(before, after)))]


# A fix seen once is still a lesson on a sparse tree (low confidence, said so): at most this many are
# kept, edits of the kinds a model can act on first, so that a big tree's long tail stays small.
SEEN_ONCE_MAX = 100


def fix_rules(index: LogIndex, flt: AttemptFilter = ALL, min_fixes: int = 2) -> pd.DataFrame:
    """Edits that fixed failures at least ``min_fixes`` times, with their support and success rate, most
    fixes first (``min_fixes=1``: also the edits seen once, at most SEEN_ONCE_MAX of them).

    Output columns: kind, old, new, change (in words), fixes (transitions with the edit that ended
    in a success), tries (all transitions with the edit), success_rate (percent), fingerprints
    (the errors it fixed, most often first), fingerprint_fixes ({fingerprint: fixes}),
    example_sessions, text ("cv2 -> skimage: 14 fixes, 93%", "cv2 -> skimage: seen once (low
    confidence)"). Worked out once per index version for every ``min_fixes`` (loaders.store.stored_results).
    """
    records = stored_result(index, "recipes.fix_rules", (flt, 1), lambda: _rule_records(index, flt))
    rules = pd.DataFrame(records, columns=RULE_COLUMNS)
    return rules[rules["fixes"] >= min_fixes].reset_index(drop=True) if min_fixes > 1 else rules


def _rule_records(index: LogIndex, flt: AttemptFilter) -> list[dict[str, Any]]:
    with changed_transitions(index, flt) as changed:
        tally = _tally(changed)
    rules = []
    once = set(
        sorted(
            (change for change, count in tally.fixes.items() if count == 1),
            key=lambda change: (KIND_PRIORITY[change.kind], change.describe()),
        )[:SEEN_ONCE_MAX]
    )
    for change, count in tally.fixes.items():
        if count == 1 and change not in once:
            continue
        rate = count * 100.0 / tally.tries[change]
        per_fingerprint = tally.by_fingerprint[change]
        rules.append(
            {
                "kind": change.kind,
                "old": change.old,
                "new": change.new,
                "change": change.describe(),
                "fixes": count,
                "tries": tally.tries[change],
                "success_rate": rate,
                "fingerprints": [fp for fp, _ in per_fingerprint.most_common()],
                "fingerprint_fixes": dict(per_fingerprint),
                "example_sessions": tally.sessions[change],
                "text": f"{change.describe()}: "
                + ("seen once (low confidence)" if count == 1 else f"{count} fixes, {rate:.0f}%"),
            }
        )
    # Most fixes first; on a tie, a library swap before the renames it brings along.
    rules.sort(key=lambda rule: (-rule["fixes"], KIND_PRIORITY[rule["kind"]], -rule["success_rate"], rule["change"]))
    return rules


def best_rule_by_fingerprint(rules: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """For each fingerprint, the rule that fixed it most often (ties: the rule with more fixes overall)."""
    best: dict[str, dict[str, Any]] = {}
    for rule in rules.to_dict("records"):
        for fingerprint, count in rule["fingerprint_fixes"].items():
            current = best.get(fingerprint)
            if current is None or count > current["fingerprint_fixes"][fingerprint]:
                best[fingerprint] = rule
    return best


def instead(rule: dict[str, Any], error: str, not_installed: bool = False) -> str:
    """What to do instead, in the words the model is told, from a rule of fix_rules (``error``: the key
    line). An import the rule drops is said to be not installed when ``error`` says so, or when
    ``not_installed`` (the module could not be imported in the failures)."""
    if rule["fixes"] == 1:  # a lesson from one fix: said as such, with where it was seen
        sessions = list(rule.get("example_sessions") or [])
        fixes = f"seen once{f', in session {sessions[0]}' if sessions else ''}: low confidence"
    else:
        fixes = f"{rule['fixes']} fixes, {rule['success_rate']:.0f}% of tries worked"
    if rule["kind"] == "import":
        reason = ": it is not installed" if not_installed or missing_module(error) == rule["old"] else ""
        return f"Don't import {rule['old']}{reason}; use {rule['new']} instead ({fixes})."
    if rule["kind"] == "drop_import":
        reason = ": it is not installed" if not_installed or missing_module(error) == rule["old"] else ""
        return f"Don't import {rule['old']}{reason} ({fixes} removed it)."
    if rule["kind"] == "subscript":
        return f"Write {rule['new']} instead of {rule['old']} ({fixes})."
    return f"Use {rule['new']} instead of {rule['old']} ({fixes})."
