"""Changes a running service makes to a tree: new attempt files, failures rewritten with fixed_by."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from loaders.demo.trees import RETRY_HEAVY_SHAPE, generate_tree


def add_and_fix(logs: Path, scratch: Path, new_files: int, fixed: int, seed: int) -> None:
    """Move ``new_files`` fresh attempt files into ``logs`` and set fixed_by on ``fixed`` unfixed failures.

    The rewrite is in place, as the original writer does it (the directory's mtime does not move).
    """
    generate_tree(scratch, sessions=new_files, days=1, seed=10_000 + seed, shape=RETRY_HEAVY_SHAPE)
    fresh = sorted(scratch.glob("*es/*/*.json"))[:new_files]
    for path in fresh:
        target = logs / path.relative_to(scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    shutil.rmtree(scratch, ignore_errors=True)
    rng = random.Random(seed)
    failures = sorted(logs.glob("failures/*/*.json"))
    rewritten = 0
    for path in rng.sample(failures, min(len(failures), fixed * 4)):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("fixed_by"):
            continue
        record["fixed_by"] = f"bench-fix-{seed}-{rewritten}"
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, ensure_ascii=False)
        rewritten += 1
        if rewritten == fixed:
            break
