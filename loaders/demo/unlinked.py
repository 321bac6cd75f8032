"""Writes trees shaped like the original service's published tree, which never links its attempts.

What the issue measured on that tree, copied here with the truth kept aside for tests:
- no ``previous_attempt_id``, no ``fixed_by``, every attempt alone in a session of its own id, no
  session files; prompt and model null (a share of sessions may carry them: ``prompt_share``);
- a handful of input file names shared by everybody (``image.jpg``, ``image.tif``, ...);
- people work in bursts: sessions on the same input file interleave, a retry comes 5-120 s later;
- a retry is an edit of the previous attempt (its header comment's time changes, one to three lines
  change), while another script on the same file is mostly different code;
- working templates are re-run unchanged many times, each run a session of its own;
- a session may be abandoned: a few failures, then the user moves on.

Usage: ``python -m loaders.demo.unlinked --out DIR [--sessions 300] [--seed 1] [--prompt-share 0]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from loaders.demo.scenarios import MODELS, PROMPTS, SCENARIOS, Scenario
from loaders.demo.trees import DemoCounts, TreeWriter, attempt_record

INPUT_FILES = (("image.jpg", 6), ("image.tif", 3), ("image.png", 2), ("scan.tif", 1))
SHARED_LINES = (
    "from MapsBridge import MapsBridge",
    "bridge = MapsBridge.FromStdIn()",
    "image_name = bridge.request.ImageFileNames['0']",
)
IMPORTS = (
    "import numpy as np",
    "import json",
    "import sys",
    "import math",
    "from scipy import ndimage",
    "from skimage import exposure",
    "from skimage.filters import sobel",
    "from PIL import Image",
    "import os",
)
NAMES = ("img", "arr", "data", "band", "layer", "tile", "pixels", "grid", "frame", "plane", "field", "values")
FUNCTIONS = (
    "ndimage.gaussian_filter({a}, sigma={f})",
    "np.clip({a} * {f}, 0, 255)",
    "exposure.equalize_hist({a})",
    "sobel({a}[..., {i}])",
    "np.percentile({a}, {p})",
    "{a}[::{i}, ::{i}]",
    "np.where({a} > {p}, 255, 0)",
    "ndimage.median_filter({a}, size={i})",
    "np.log1p({a}) * {f}",
    "({a} - {a}.mean()) / ({a}.std() + 1e-6)",
    "np.rot90({a}, k={i})",
    "np.fliplr({a})",
    "ndimage.uniform_filter({a}, size={i})",
    "{a}.astype(np.float32) / {p}",
    "np.stack([{a}] * {i}, axis=-1)",
    "math.sqrt({p}) * {a}",
)
OUTPUTS = (
    "bridge.SendSingleTileOutput({a}, name='{n}')",
    "Image.fromarray({a}.astype('uint8')).save('output/{n}.png')",
    "print(json.dumps({{'shape': list({a}.shape), 'name': '{n}'}}))",
)


@dataclass
class UnlinkedTruth:
    """The sessions as the users worked them: log_id -> id of the session's first attempt."""

    session_of: dict[str, str] = field(default_factory=dict)
    fixed: set[str] = field(default_factory=set)  # failures that a later attempt of their session fixed


def same_session_pairs(session_of: dict[str, str]) -> set[tuple[str, str]]:
    """Every pair of attempts that share a session, given attempt -> session (for precision and recall)."""
    members: dict[str, list[str]] = {}
    for attempt, session in session_of.items():
        members.setdefault(session, []).append(attempt)
    return {tuple(sorted(pair)) for group in members.values() for pair in itertools.combinations(group, 2)}


def strip_links(root: Path) -> UnlinkedTruth:
    """Rewrite a linked tree as a service that never links attempts writes it; return the truth.

    Every attempt becomes a session of its own id with no ``previous_attempt_id`` and no ``fixed_by``,
    and the session files go. The truth keeps each attempt's session and the failures a later
    success of their session fixed.
    """
    truth = UnlinkedTruth()
    records = [(path, json.loads(path.read_text())) for path in sorted(root.glob("*es/*/*.json"))]
    successes = {}
    for _, record in records:
        if record["status"] == "success":
            successes.setdefault(record["session_id"], []).append(record["timestamp"])
    for path, record in records:
        truth.session_of[record["log_id"]] = record["session_id"]
        if record["status"] == "failed" and any(
            s > record["timestamp"] for s in successes.get(record["session_id"], [])
        ):
            truth.fixed.add(record["log_id"])
        record.update(session_id=record["log_id"], previous_attempt_id=None, fixed_by=None)
        path.write_text(json.dumps(record))
    shutil.rmtree(root / "sessions", ignore_errors=True)
    return truth


def _line(rng: random.Random, names: list[str]) -> str:
    target = rng.choice(NAMES) + (str(rng.randint(1, 9)) if rng.random() < 0.5 else "")
    source = rng.choice(names)
    expression = rng.choice(FUNCTIONS).format(
        a=source, f=f"{rng.uniform(0.2, 5):.2f}", i=rng.randint(1, 4), p=rng.randint(5, 250)
    )
    names.append(target)
    return f"{target} = {expression}"


def new_script(rng: random.Random) -> list[str]:
    """A script of the service's kind, as its code lines (the header comment comes at run time)."""
    names = ["image"]
    lines = [*rng.sample(IMPORTS, rng.randint(2, 5)), *SHARED_LINES, "image = np.asarray(bridge.LoadImage(image_name))"]
    lines += [_line(rng, names) for _ in range(rng.randint(8, 18))]
    lines.append(rng.choice(OUTPUTS).format(a=names[-1], n=rng.choice(NAMES)))
    return lines


def edited(rng: random.Random, lines: list[str]) -> list[str]:
    """One to three small edits of a script: a line rewritten, a number changed, one added or dropped."""
    lines = list(lines)
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        position = rng.randrange(len(SHARED_LINES) + 3, len(lines) - 1)  # a body line, not the output
        kind = rng.random()
        names = [line.split(" = ")[0] for line in lines[:position] if " = " in line] or ["image"]
        if kind < 0.4:
            lines[position] = _line(rng, names)
        elif kind < 0.8:
            changed = re.sub(r"\d+(\.\d+)?", str(rng.randint(2, 99)), lines[position], count=1)
            lines[position] = changed if changed != lines[position] else f"{lines[position]} * {rng.randint(2, 9)}"
        elif kind < 0.9:
            lines.insert(position, _line(rng, names))
        elif len(lines) > len(SHARED_LINES) + 6:
            del lines[position]
    return lines


def _code(lines: list[str], when: datetime, failing: Scenario | None) -> str:
    body = list(lines)
    if failing is not None:
        body[-1:-1] = failing.failing_body.rstrip("\n").split("\n")
        body[:0] = [line for line in failing.extra_imports_failing.split("\n") if line]
    return f"# Last Code Update - {when:%H:%M:%S}\n" + "\n".join(body) + "\n"


def _fixed(lines: list[str], scenario: Scenario) -> list[str]:
    body = list(lines)
    body[-1:-1] = scenario.fixed_body.rstrip("\n").split("\n")
    body[:0] = [line for line in scenario.extra_imports_fixed.split("\n") if line]
    return body


@dataclass
class _Writer:
    tree: TreeWriter
    rng: random.Random
    truth: UnlinkedTruth
    prompt_share: float

    def attempt(
        self,
        *,
        status: str,
        code: str,
        when: datetime,
        image: str,
        task: tuple,
        first: str | None,
        scenario: Scenario | None = None,
    ) -> str:
        record = attempt_record(
            rng=self.rng,
            status=status,
            code=code,
            when=when,
            session_id=None,
            prompt=task[0] or "",
            model=task[1] or "",
            image=image,
            previous=None,
            scenario=scenario,
        )
        record.update(user_prompt=task[0], ai_model=task[1])
        self.tree.write_attempt(record)
        self.truth.session_of[record["log_id"]] = first or record["log_id"]
        return record["log_id"]

    def task(self) -> tuple[str | None, str | None]:
        if self.rng.random() < self.prompt_share:
            return self.rng.choice(PROMPTS), self.rng.choice(MODELS)[0]
        return None, None


def _retry_session(w: _Writer, start: datetime, image: str) -> None:
    """Failures edited one after the other, then the fix (or the user gives up)."""
    rng, task = w.rng, w.task()
    lines, scenario = new_script(rng), rng.choice(SCENARIOS)
    when, first, failed = start, None, []
    for _ in range(rng.choices((1, 2, 3, 4), weights=(5, 3, 2, 1))[0]):
        log_id = w.attempt(
            status="failed",
            code=_code(lines, when, scenario),
            when=when,
            image=image,
            task=task,
            first=first,
            scenario=scenario,
        )
        first, failed = first or log_id, [*failed, log_id]
        when += timedelta(seconds=rng.uniform(5, 120))
        lines = edited(rng, lines)
        if rng.random() < 0.25:  # the edit shows another mistake
            scenario = rng.choice(SCENARIOS)
    if rng.random() < 0.72:
        w.attempt(
            status="success",
            code=_code(_fixed(lines, scenario), when, None),
            when=when,
            image=image,
            task=task,
            first=first,
        )
        w.truth.fixed.update(failed)
    w.tree.counts.sessions += 1


def generate_unlinked_tree(
    root: str | Path,
    sessions: int = 300,
    days: int = 10,
    seed: int = 1,
    end: datetime | None = None,
    prompt_share: float = 0.0,
    sessions_per_burst: int = 8,
) -> tuple[DemoCounts, UnlinkedTruth]:
    """Write ``sessions`` sessions of the original's unlinked shape; return the counts and the truth.

    About half the sessions retry a failing script, a quarter re-run a working template unchanged,
    the rest succeed at once; sessions gather in bursts (``sessions_per_burst`` within 25 minutes)
    on a few shared input file names.
    """
    rng = random.Random(seed)
    end = end or datetime.now().replace(microsecond=0)
    tree, truth = TreeWriter(Path(root)), UnlinkedTruth()
    writer = _Writer(tree, rng, truth, prompt_share)
    templates = [new_script(rng) for _ in range(6)]
    bursts = sorted(
        end - timedelta(seconds=rng.uniform(3600, days * 86400)) for _ in range(max(1, sessions // sessions_per_burst))
    )
    names, weights = zip(*INPUT_FILES, strict=True)
    for _ in range(sessions):
        start = rng.choice(bursts) + timedelta(seconds=rng.uniform(0, 1500))
        image = rng.choices(names, weights=weights)[0]
        kind = rng.random()
        if kind < 0.5:
            _retry_session(writer, start, image)
            continue
        lines = rng.choice(templates) if kind < 0.75 else new_script(rng)
        writer.attempt(
            status="success", code=_code(lines, start, None), when=start, image=image, task=writer.task(), first=None
        )
        tree.counts.sessions += 1
    tree.counts.fixed_failures = len(truth.fixed)
    return tree.counts, truth


def main(argv: list[str] | None = None) -> int:
    """Command line: write an unlinked tree and print its counts."""
    parser = argparse.ArgumentParser(prog="python -m loaders.demo.unlinked", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write into")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prompt-share", type=float, default=0.0, help="share of sessions with prompt and model")
    args = parser.parse_args(argv)
    counts, _ = generate_unlinked_tree(args.out, args.sessions, args.days, args.seed, prompt_share=args.prompt_share)
    print(
        f"wrote {counts.sessions} sessions: {counts.failures} failures ({counts.fixed_failures} fixed), "
        f"{counts.successes} successes into {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
