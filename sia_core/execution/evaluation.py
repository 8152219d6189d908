"""Running a task's evaluator and turning its results.json into a score and rewards.

The evaluator is task code, trusted with the private answers but nothing else: it runs
as `python evaluate.py --gen-dir DIR` in a sandbox of its own (sia_core.sandbox.evaluator:
no network, everything read-only but DIR/results.json), under the task's time and
memory caps. The preferred form is
`{"summary": {METRIC: x, ...}, "items": [{"id", "status", "reward"?, "group"?}]}`;
the original SIA forms (metric at the top level, per-item `details`) are read too.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError
from sia_core.sandbox.evaluator import evaluator_argv
from sia_core.sandbox.stage import die_with_parent
from sia_core.tasks.task import Task

SUCCESS_STATUSES = {"correct", "pass", "passed", "success", "ok", "solved", "true"}
ID_KEYS = ("id", "item_id", "question_id", "problem_id", "PassengerId")


class MetricKeyError(SiaError):
    """The evaluator ran, but its results lack the task's metric: a task problem."""


@dataclass(frozen=True)
class ItemResult:
    id: str
    status: str
    reward: float
    group: str | None = None
    """A public category of the item (domain, problem type) that trajectory samples
    spread over; never derived from its answer."""


@dataclass
class Evaluation:
    score: float | None
    items: list[ItemResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def rewards(self) -> list[float]:
        return [item.reward for item in self.items]


def _item(raw: dict[str, Any], index: int) -> ItemResult:
    item_id = next((raw[k] for k in ID_KEYS if k in raw), index)
    status = str(raw.get("status", "")).lower()
    reward = raw.get("reward", raw.get("score"))
    if not isinstance(reward, (int, float)) or isinstance(reward, bool):
        correct = raw.get("is_correct", raw.get("correct"))
        if isinstance(correct, bool):
            reward = float(correct)
        else:
            reward = 1.0 if status in SUCCESS_STATUSES else 0.0
    if not status:
        status = "correct" if reward >= 1.0 else "incorrect"
    group = raw.get("group")
    return ItemResult(
        id=str(item_id),
        status=status,
        reward=float(reward),
        group=str(group) if isinstance(group, (str, int)) and not isinstance(group, bool) else None,
    )


def parse_results(data: Any, metric: str) -> Evaluation:
    if not isinstance(data, dict):
        return Evaluation(score=None, error="results.json is not a JSON object")
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else data
    value = summary.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        numeric = sorted(
            k for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        if not numeric:
            # No score at all: the evaluator rejected what the agent wrote.
            return Evaluation(score=None, error=f"results.json has no score: {data}"[:400])
        raise MetricKeyError(
            f"results.json has no numeric metric {metric!r} (numeric keys: "
            f"{', '.join(numeric) or 'none'}); set [metric] key in task.toml"
        )
    raw_items = data.get("items", data.get("details", []))
    items = [_item(raw, i) for i, raw in enumerate(raw_items or []) if isinstance(raw, dict)]
    clean_summary = {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}
    return Evaluation(score=float(value), items=items, summary=clean_summary)


def run_evaluator(
    task: Task,
    gen_dir: Path,
    timeout_s: float | None = None,
    *,
    shielded: bool = True,
    bwrap: str | None = None,
) -> Evaluation:
    """Score the outputs in `gen_dir`. Agent-caused failures come back as `error`;
    a results.json without the task's metric raises MetricKeyError. `shielded=False`
    (only with the unshielded `process` sandbox) runs the evaluator as a plain process."""
    results = gen_dir / "results.json"
    results.unlink(missing_ok=True)
    results.touch()
    log_path = gen_dir / "evaluation.log"
    timeout = timeout_s or task.config.eval_timeout_s
    memory = task.config.memory_mb * 1024 * 1024
    if shielded:
        argv = evaluator_argv(task.root, task.evaluator, gen_dir, task.config.memory_mb, bwrap)
    else:
        argv = [sys.executable, str(task.evaluator), "--gen-dir", str(gen_dir)]

    def limits() -> None:
        die_with_parent()
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=task.evaluator.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=limits,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Evaluation(score=None, error=f"evaluator timed out after {timeout:.0f} s")
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        last = tail[-1][:300] if tail else "no output"
        return Evaluation(score=None, error=f"evaluator exited with code {code}: {last}")
    if not results.is_file() or results.stat().st_size == 0:
        return Evaluation(score=None, error="evaluator wrote no results.json")
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except ValueError as exc:
        return Evaluation(score=None, error=f"results.json is not valid JSON: {exc}")
    return parse_results(data, task.config.metric)
