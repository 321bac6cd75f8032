"""Writes a realistic log tree with known counts: the demo tree, test trees and benchmark trees.

Usage: ``python -m loaders.demo [--out logs] [--sessions 300] [--days 30] [--seed 7] [--end ISO]``.
The files have the exact format of ../shared/LOG_FORMAT.md (indent=2, ensure_ascii=False).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from loaders.demo.scenarios import HEADER, LOAD_INPUT, MODELS, PROMPTS, SAVE_OUTPUT, SCENARIOS, Scenario
from loaders.text import error_text


@dataclass
class DemoCounts:
    """What a generated tree holds, counted while writing it (the truth tests compare against)."""

    failures: int = 0
    successes: int = 0
    fixed_failures: int = 0
    sessions: int = 0
    resolved_sessions: int = 0
    attempts_by_day: dict[str, int] = field(default_factory=dict)
    newest: datetime | None = None

    @property
    def unfixed_failures(self) -> int:
        """Failures with no later success in their session."""
        return self.failures - self.fixed_failures


@dataclass(frozen=True)
class TreeShape:
    """How the generated service behaves: how often and how many times it retries, how much it prints."""

    failure_scale: float = 1.0  # multiplies each model's share of failing first attempts
    retry_weights: tuple[int, int, int] = (6, 3, 1)  # weights of 1, 2 and 3 failures before the end
    success_tiles: tuple[int, int] = (4, 40)  # stdout lines of a success: one per tile
    failure_tiles: tuple[int, int] = (2, 12)


DEMO_SHAPE = TreeShape()
# The shape of the tree measured in the performance issue: 20,000 sessions gave 46,687 attempt
# files (2.3 a session) of about 4.8 KB each.
RETRY_HEAVY_SHAPE = TreeShape(
    failure_scale=1.85, retry_weights=(2, 3, 3), success_tiles=(50, 130), failure_tiles=(30, 90)
)


def code_hash(code: str) -> str:
    """The writer's code_hash: md5 of the code with blank lines dropped and lines stripped, 16 hex."""
    normalized = "\n".join(line.strip() for line in code.split("\n") if line.strip())
    return hashlib.md5(normalized.encode()).hexdigest()[:16]


def _stdout(rng: random.Random, tiles: int) -> str:
    lines = [f"Loaded request with {tiles} tiles"]
    for index in range(1, tiles + 1):
        lines.append(f"Processing tile {index}/{tiles}: mean={rng.uniform(40, 200):.3f} std={rng.uniform(5, 60):.3f}")
    return "\n".join(lines) + "\n"


def _stderr(scenario: Scenario, line_no: int) -> str:
    if scenario.no_traceback:
        return ""
    if scenario.error_line.startswith("SyntaxError"):
        return (
            f'  File "/tmp/job/script.py", line {line_no}\n    {scenario.traceback_line}\n'
            f"                         ^\n{scenario.error_line}\n"
        )
    return (
        "Traceback (most recent call last):\n"
        f'  File "/tmp/job/script.py", line {line_no}, in <module>\n'
        f"    {scenario.traceback_line}\n{scenario.error_line}\n"
    )


def _tags(code: str, error: str = "") -> list[str]:
    tags = [f"lib:{lib}" for lib in ("MapsBridge", "numpy", "scipy", "skimage", "cv2") if lib in code]
    if "SendSingleTileOutput" in code:
        tags.append("output:tile")
    tags.append("request_type:tileset")
    if "import" in error.lower():
        tags.append("error:import")
    return tags


class TreeWriter:
    """Writes attempt and session files into one tree and keeps the counts."""

    def __init__(self, root: Path):
        self.root = root
        self.counts = DemoCounts()

    def write_attempt(self, record: dict) -> None:
        """Write one attempt file into failures/ or successes/ by its status and local date."""
        folder = "failures" if record["status"] == "failed" else "successes"
        stamp = datetime.fromisoformat(record["timestamp"])
        day_dir = self.root / folder / stamp.strftime("%Y-%m-%d")
        day_dir.mkdir(parents=True, exist_ok=True)
        (day_dir / f"{record['log_id']}.json").write_text(
            json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        day = stamp.strftime("%Y-%m-%d")
        self.counts.attempts_by_day[day] = self.counts.attempts_by_day.get(day, 0) + 1
        if self.counts.newest is None or stamp > self.counts.newest:
            self.counts.newest = stamp
        if record["status"] == "failed":
            self.counts.failures += 1
        else:
            self.counts.successes += 1

    def write_session(self, session_id: str, attempts: list[dict]) -> None:
        """Write the session file as the writer leaves it after its last attempt."""
        session = {
            "session_id": session_id,
            "created_at": attempts[0]["timestamp"],
            "attempts": [{"log_id": a["log_id"], "timestamp": a["timestamp"], "status": a["status"]} for a in attempts],
            "status": "in_progress",
        }
        if any(a["status"] == "success" for a in attempts):
            session["status"] = "resolved"
            session["resolved_at"] = next(a["timestamp"] for a in attempts if a["status"] == "success")
            self.counts.resolved_sessions += 1
        session["updated_at"] = attempts[-1]["timestamp"]
        sessions_dir = self.root / "sessions"
        sessions_dir.mkdir(parents=True, exist_ok=True)
        (sessions_dir / f"{session_id}.json").write_text(json.dumps(session, indent=2, ensure_ascii=False), "utf-8")
        self.counts.sessions += 1


def attempt_record(
    *,
    rng: random.Random,
    status: str,
    code: str,
    when: datetime,
    session_id: str | None,
    prompt: str,
    model: str,
    image: str,
    previous: str | None,
    scenario: Scenario | None = None,
    shape: TreeShape = DEMO_SHAPE,
) -> dict:
    """Build one attempt object with every key the writer writes."""
    log_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    record = {
        "log_id": log_id,
        "session_id": session_id or log_id,
        "timestamp": when.isoformat(timespec="microseconds"),
        "status": status,
        "code": code,
        "code_hash": code_hash(code),
        "user_prompt": prompt,
        "ai_model": model,
        "image_filename": image,
        "error_message": None,
        "error_type": None,
        "stderr": None,
        "stdout": None,
        "return_code": None,
        "output_files": None,
        "execution_time_seconds": None,
        "previous_attempt_id": previous,
        "fixed_by": None,
        "error_category": None,
        "tags": None,
    }
    if status == "failed":
        assert scenario is not None
        line_no = code.count("\n") - 2
        stderr = _stderr(scenario, line_no)
        if scenario.no_traceback:
            message = scenario.error_line
            return_code = -9
        else:
            message = f"Script exited with code 1. Error: User code error: {scenario.error_line.split(': ', 1)[-1]}"
            return_code = 1
        record.update(
            error_message=message,
            error_type=error_text.error_type_of(stderr),
            stderr=stderr,
            stdout=_stdout(rng, rng.randint(*shape.failure_tiles)),
            return_code=return_code,
            error_category=error_text.keyword_category(message, stderr),
            tags=_tags(code, message + stderr),
        )
    else:
        record.update(
            stdout=_stdout(rng, rng.randint(*shape.success_tiles)),
            output_files=[f"output/{image.rsplit('.', 1)[0]}_result.png"],
            execution_time_seconds=round(rng.uniform(0.4, 9.0), 3),
            tags=_tags(code),
        )
    return record


def _script(prompt: str, body: str, extra_imports: str, output: str) -> str:
    return HEADER.format(prompt=prompt) + extra_imports + LOAD_INPUT + body + SAVE_OUTPUT.format(output=output)


def _write_session(
    writer: TreeWriter, rng: random.Random, start: datetime, progress_share: float, shape: TreeShape
) -> None:
    """One user request: zero to three failures, then a success or nothing."""
    model, fail_share = rng.choice(MODELS)
    fail_share *= (1.15 - 0.4 * progress_share) * shape.failure_scale  # the generator gets better over time
    prompt = rng.choice(PROMPTS)
    image = f"tile_{rng.randint(1, 400):04d}.png"
    output = prompt.split()[0].lower()
    failures = 0
    if rng.random() < fail_share:
        failures = rng.choices((1, 2, 3), weights=shape.retry_weights)[0]
    resolved = failures == 0 or rng.random() < 0.78
    linked = rng.random() < 0.9
    attempts: list[dict] = []
    when = start
    session_id = None
    scenario = None
    for _ in range(failures):
        scenario = rng.choice(SCENARIOS)
        code = _script(prompt, scenario.failing_body, scenario.extra_imports_failing, output)
        previous = attempts[-1]["log_id"] if attempts and linked else None
        attempts.append(
            attempt_record(
                rng=rng,
                status="failed",
                code=code,
                when=when,
                session_id=session_id,
                prompt=prompt,
                model=model,
                image=image,
                previous=previous,
                scenario=scenario,
                shape=shape,
            )
        )
        session_id = attempts[0]["session_id"]
        when += timedelta(seconds=rng.randint(20, 400))
    if resolved:
        body, imports = ("result = rgb_array * 1.1\n", "")
        if scenario is not None:
            body, imports = scenario.fixed_body, scenario.extra_imports_fixed
        code = _script(prompt, body, imports, output)
        previous = attempts[-1]["log_id"] if attempts and linked else None
        success = attempt_record(
            rng=rng,
            status="success",
            code=code,
            when=when,
            session_id=session_id,
            prompt=prompt,
            model=model,
            image=image,
            previous=previous,
            shape=shape,
        )
        if previous:
            attempts[-1]["fixed_by"] = success["log_id"]
        attempts.append(success)
        writer.counts.fixed_failures += failures
    for record in attempts:
        writer.write_attempt(record)
    writer.write_session(attempts[0]["session_id"], attempts)


def generate_tree(
    root: str | Path,
    sessions: int = 300,
    days: int = 30,
    seed: int = 7,
    end: datetime | None = None,
    shape: TreeShape = DEMO_SHAPE,
) -> DemoCounts:
    """Write ``sessions`` sessions spread over ``days`` days ending at ``end`` (default now).

    Output: the DemoCounts of what was written.
    """
    rng = random.Random(seed)
    end = end or datetime.now().replace(microsecond=0)
    writer = TreeWriter(Path(root))
    span = timedelta(days=days).total_seconds()
    starts = sorted(end - timedelta(seconds=rng.uniform(1800, span)) for _ in range(sessions))
    for start in starts:
        _write_session(writer, rng, start, 1 - (end - start).total_seconds() / span, shape)
    return writer.counts


def main(argv: list[str] | None = None) -> int:
    """Command line: write a demo tree and print its counts."""
    parser = argparse.ArgumentParser(prog="python -m loaders.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="logs", help="directory to write into (default: logs)")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", type=datetime.fromisoformat, default=None, help="newest time, ISO 8601")
    args = parser.parse_args(argv)
    counts = generate_tree(args.out, args.sessions, args.days, args.seed, args.end)
    print(
        f"wrote {counts.sessions} sessions: {counts.failures} failures "
        f"({counts.fixed_failures} fixed), {counts.successes} successes into {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
