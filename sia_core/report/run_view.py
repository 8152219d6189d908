"""Everything a report shows of one run, read from disk without trusting it: a run that is
still going, a generation killed half-way, a file an agent filled with garbage all read as
"not there" rather than as an error.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sia_core.execution.evaluation import SUCCESS_STATUSES
from sia_core.generation_record import GenerationRecord
from sia_core.harness.knob_search import STUDY_FILE, KnobSearch
from sia_core.loop.run_dir import RunDir
from sia_core.run_layout import gen_name
from sia_core.store import TMP_PREFIX

MAX_TEXT = 200_000
"""Bytes of a text file (harness, improvement.md) a report reads; the rest is cut."""
SAMPLE_FAILURES = 6
SAMPLE_SUCCESSES = 2


def read_text(path: Path, limit: int = MAX_TEXT) -> str | None:
    if not path.is_file() or path.is_symlink():
        return None
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + "\n[... cut]" if len(data) > limit else text


def read_json_or_none(path: Path) -> Any:
    text = read_text(path, limit=64 * 1024 * 1024)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass
class Trajectory:
    item_id: str
    status: str | None
    reward: float | None
    group: str | None
    calls: list[dict[str, Any]]


@dataclass
class GenerationView:
    record: GenerationRecord
    dir: Path
    parent: int | None = None
    """The generation this one was made from (feedback_context.json), if known."""
    chose_from: dict[str, Any] | None = None
    """The reward-shape report the Feedback-Agent decided from (its parent's rewards)."""
    parent_rewards: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    """This generation's per-item selection rewards."""
    groups: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Per item group: mean selection reward and item count."""
    improvement: str | None = None
    diff: list[str] = field(default_factory=list)
    diff_against: int | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)
    sample: list[Trajectory] = field(default_factory=list)
    failures: int = 0

    @property
    def number(self) -> int:
        return self.record.number


@dataclass
class RunView:
    path: Path
    state: dict[str, Any]
    generations: list[GenerationView]
    in_progress: int | None
    """The number of the generation being made now, when the run is live."""
    live: bool
    """True when run.json says running and its process is alive."""
    knob_trials: list[dict[str, Any]] = field(default_factory=list)
    """The knob study's trials (the offline harness lever), oldest first."""

    @property
    def run_id(self) -> str:
        return str(self.state.get("run_id") or self.path.name.removeprefix("run_"))

    @property
    def has_groups(self) -> bool:
        return any(len(g.groups) > 1 for g in self.generations)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _trajectories(gen_dir: Path) -> tuple[dict[str, Any], list[Trajectory]]:
    data = read_json_or_none(gen_dir / "agent_execution.json")
    if not isinstance(data, dict):
        return {}, []
    found = []
    for raw in data.get("trajectories") or []:
        if not isinstance(raw, dict):
            continue
        group = raw.get("group")
        found.append(
            Trajectory(
                item_id=str(raw.get("item_id")),
                status=str(raw["status"]) if raw.get("status") is not None else None,
                reward=_float(raw.get("reward")),
                group=str(group) if group is not None else None,
                calls=[c for c in raw.get("calls") or [] if isinstance(c, dict)],
            )
        )
    sandbox = data.get("sandbox") if isinstance(data.get("sandbox"), dict) else {}
    return sandbox, found


def full_reward(rewards: list[float]) -> float | None:
    """The reward of an item done right: 1.0 for rewards in [0, 1] (sia's convention);
    for graded rewards without a known ceiling (minus an error), the best one seen."""
    if not rewards:
        return None
    return 1.0 if all(0.0 <= r <= 1.0 for r in rewards) else max(rewards)


def _is_failure(t: Trajectory, full: float | None) -> bool:
    if t.status in SUCCESS_STATUSES:
        return False
    if t.reward is None or full is None:
        return True
    return t.reward < full


def _sample(trajectories: list[Trajectory]) -> tuple[list[Trajectory], int]:
    """Failures (items below the full reward) first, lowest reward first, then a few
    successes."""
    full = full_reward([t.reward for t in trajectories if t.reward is not None])
    failed = [t for t in trajectories if _is_failure(t, full)]
    passed = [t for t in trajectories if not _is_failure(t, full)]
    failed.sort(key=lambda t: (t.reward if t.reward is not None else float("-inf"), t.item_id))
    return failed[:SAMPLE_FAILURES] + passed[:SAMPLE_SUCCESSES], len(failed)


def _groups(trajectories: list[Trajectory]) -> dict[str, tuple[float, int]]:
    sums: dict[str, list[float]] = {}
    for t in trajectories:
        if t.group is not None and t.reward is not None:
            sums.setdefault(t.group, []).append(t.reward)
    return {g: (sum(v) / len(v), len(v)) for g, v in sorted(sums.items())}


def _generation(rundir: RunDir, record: GenerationRecord) -> GenerationView:
    gen_dir = rundir.gen_dir(record.number)
    view = GenerationView(record=record, dir=gen_dir)
    context = read_json_or_none(gen_dir / "feedback_context.json")
    if isinstance(context, dict):
        parent = context.get("parent")
        view.parent = parent if isinstance(parent, int) else None
        shape = context.get("reward_shape")
        view.chose_from = shape if isinstance(shape, dict) else None
    view.sandbox, trajectories = _trajectories(gen_dir)
    view.rewards = [t.reward for t in trajectories if t.reward is not None]
    view.groups = _groups(trajectories)
    view.sample, view.failures = _sample(trajectories)
    view.improvement = read_text(gen_dir / "improvement.md")
    return view


def _diff(views: list[GenerationView]) -> None:
    """Each generation's harness against the one it was made from (else the one before)."""
    by_number = {v.number: v for v in views}
    for i, view in enumerate(views):
        base_number = view.parent if view.parent in by_number else None
        if base_number is None and i > 0:
            base_number = views[i - 1].number
        if base_number is None:
            continue
        old = read_text(by_number[base_number].dir / "target_agent.py")
        new = read_text(view.dir / "target_agent.py")
        if old is None or new is None:
            continue
        view.diff_against = base_number
        view.diff = list(
            difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                f"{gen_name(base_number)}/target_agent.py",
                f"{gen_name(view.number)}/target_agent.py",
                lineterm="",
            )
        )


def load(path: Path) -> RunView:
    """Read a run directory (raises SiaError when it is not a run)."""
    rundir = RunDir(path)
    state = rundir.read()
    views = [_generation(rundir, r) for r in rundir.records()]
    by_number = {v.number: v for v in views}
    for view in views:
        parent = by_number.get(view.parent) if view.parent is not None else None
        if parent is not None:
            view.parent_rewards = parent.rewards
    _diff(views)
    live = state.get("status") == "running" and _pid_alive(state.get("pid"))
    in_progress = None
    if live:
        making = [
            int(m.group(1))
            for p in path.iterdir()
            if (m := re.match(rf"^{re.escape(TMP_PREFIX)}gen_(\d+)-", p.name)) and p.is_dir()
        ]
        in_progress = max(making, default=None)
    trials: list[dict[str, Any]] = []
    if (path / STUDY_FILE).is_file():
        trials = KnobSearch(path, str(state.get("task", {}).get("direction", "max")), 0).table()
    return RunView(path, state, views, in_progress, live, trials)
