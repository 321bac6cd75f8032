"""How well inferred sessions recover the real ones, on trees whose truth is known.

Usage: ``python -m bench.inference_quality [--sessions 300] [--choose 1,2,3] [--report 4,5,6,7,8,9]``.
The similarity threshold is chosen on the ``--choose`` seeds (best pair F1) and reported on the
``--report`` seeds, for three shapes: the original service's unlinked tree (no prompt, no model),
the same with half the sessions carrying prompt and model, and the demo generator's linked tree
with its links stripped. Prints pair precision and recall, fixed-failure precision and recall, and
the session count against the truth.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loaders.demo.trees import generate_tree
from loaders.demo.unlinked import UnlinkedTruth, generate_unlinked_tree, same_session_pairs, strip_links
from loaders.store.facts import INFERENCE_SIMILARITY, compute_inferred_facts
from loaders.store.index import LogIndex

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
INFERRED_SQL = """
SELECT a.log_id, s.inferred_session_id, a.status = 'failed' AND s.is_fixed
FROM idx.attempt_files a JOIN idx.attempt_inferred_facts s USING (path)
"""


@dataclass
class Quality:
    """Pair precision/recall, fixed-failure precision/recall, and inferred sessions against true ones."""

    pair_precision: float
    pair_recall: float
    fixed_precision: float
    fixed_recall: float
    sessions: int
    true_sessions: int

    def line(self) -> str:
        """One line of the report."""
        drift = (self.sessions - self.true_sessions) / self.true_sessions
        return (
            f"pairs P {self.pair_precision:.3f} R {self.pair_recall:.3f} | fixed P {self.fixed_precision:.3f} "
            f"R {self.fixed_recall:.3f} | sessions {self.sessions} vs {self.true_sessions} ({drift:+.1%})"
        )

    @property
    def pair_f1(self) -> float:
        """Harmonic mean of pair precision and recall."""
        total = self.pair_precision + self.pair_recall
        return 2 * self.pair_precision * self.pair_recall / total if total else 0.0


def _ratio(found: set, true: set) -> float:
    return len(found & true) / len(found) if found else 1.0


def measure(index: LogIndex, truth: UnlinkedTruth, threshold: float) -> Quality:
    """Recompute the inferred facts at ``threshold`` and compare them with the truth."""
    with index.index_file() as connection:
        compute_inferred_facts(connection, threshold)
        rows = connection.execute(INFERRED_SQL).fetchall()
    inferred = {log_id: session for log_id, session, _ in rows}
    fixed = {log_id for log_id, _, is_fixed in rows if is_fixed}
    found, true = same_session_pairs(inferred), same_session_pairs(truth.session_of)
    return Quality(
        pair_precision=_ratio(found, true),
        pair_recall=_ratio(true, found),
        fixed_precision=_ratio(fixed, truth.fixed),
        fixed_recall=_ratio(truth.fixed, fixed),
        sessions=len(set(inferred.values())),
        true_sessions=len(set(truth.session_of.values())),
    )


def stripped_demo_tree(root: Path, sessions: int, seed: int) -> UnlinkedTruth:
    """The demo generator's linked tree rewritten as an unlinking service writes it; returns the truth."""
    generate_tree(root, sessions=sessions, days=20, seed=seed)
    return strip_links(root)


SHAPES: dict[str, Callable[[Path, int, int], UnlinkedTruth]] = {
    "original (no prompt, no model)": lambda root, n, seed: generate_unlinked_tree(root, n, seed=seed)[1],
    "original, half with prompt and model": lambda root, n, seed: generate_unlinked_tree(
        root, n, seed=seed, prompt_share=0.5
    )[1],
    "original, dense: 30 sessions a burst": lambda root, n, seed: generate_unlinked_tree(
        root, n, seed=seed, sessions_per_burst=30
    )[1],
    "demo tree, links stripped": stripped_demo_tree,
}


def evaluate(shape: str, seeds: list[int], sessions: int, work: Path) -> dict[float, list[Quality]]:
    """Quality per threshold over the seeds for one shape."""
    results: dict[float, list[Quality]] = {threshold: [] for threshold in (*THRESHOLDS, INFERENCE_SIMILARITY)}
    for seed in seeds:
        root = work / f"{list(SHAPES).index(shape)}-{seed}"
        truth = SHAPES[shape](root / "logs", sessions, seed)
        index = LogIndex(root / "logs", root / "cache", in_memory=False, session_mode="inferred")
        index.refresh()
        for threshold in results:
            results[threshold].append(measure(index, truth, threshold))
        index.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Choose the threshold on some seeds, report it on others."""
    parser = argparse.ArgumentParser(prog="python -m bench.inference_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--choose", default="1,2,3")
    parser.add_argument("--report", default="4,5,6,7,8,9")
    args = parser.parse_args(argv)
    choose = [int(s) for s in args.choose.split(",")]
    report = [int(s) for s in args.report.split(",")]
    with tempfile.TemporaryDirectory(prefix="fixtrail-inference-") as work:
        chosen = evaluate(next(iter(SHAPES)), choose, args.sessions, Path(work))
        print(f"Choosing the threshold on seeds {choose} (original shape), mean pair F1:")
        mean_f1 = {threshold: sum(q.pair_f1 for q in chosen[threshold]) / len(choose) for threshold in THRESHOLDS}
        for threshold, f1 in mean_f1.items():
            print(f"  {threshold:.1f}: {f1:.3f}")
        best = [threshold for threshold, f1 in mean_f1.items() if f1 >= max(mean_f1.values()) - 1e-9]
        print(f"Best: {best[len(best) // 2]} (the middle of the best ones)")
        print(
            f"In use: {INFERENCE_SIMILARITY} (loaders/store/facts.py); "
            f"on seeds {report}, {args.sessions} sessions each:"
        )
        for shape in SHAPES:
            print(f"- {shape}")
            qualities = evaluate(shape, report, args.sessions, Path(work))[INFERENCE_SIMILARITY]
            for seed, quality in zip(report, qualities, strict=True):
                print(f"    seed {seed}: {quality.line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
